/**
 * Many files' chunk lists in one request (batch-list.ts, issue #14), through `app.request()` on a real disk
 * store with real tokens: each token lists only the file it names, at the epoch it names; a token that is
 * not a `list` token for this relay fails its own item with its code and the others are answered; a body
 * that is not a list of 1..MAX_LIST_BATCH tokens is a 400, an oversized one a 413, never a 500.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { LIST_BATCH_PATH, MAX_LIST_BATCH, MAX_LIST_BATCH_BODY } from '@kofn/shared';
import type { createApp } from './app.js';
import type { DiskStore } from './storage/disk.js';
import { epochId } from './renewal.js';
import { testRelay } from './testing/app.js';
import type { Signer } from './testing/tokens.js';
import { newFileId, storeChunkAt } from './testing/chunks.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

let app: ReturnType<typeof createApp>;
let store: DiskStore;
let signer: Signer;

beforeAll(async () => {
  ({ app, store, signer } = await testRelay());
});

const storeAt = (id: string, fileId: string, index: number, bodyLength: number) => storeChunkAt(store, id, fileId, index, bodyLength);
const post = (body: string) => app.request(LIST_BATCH_PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
const listToken = (fid: string, ep?: number) => signer.mint({ fid, op: 'list', chunks: [0, 0], ...(ep === undefined ? {} : { ep }) });

describe('POST /v1/files/lists', () => {
  it('lists each file its token names, at the epoch it names, in the order of the tokens', async () => {
    const a = newFileId();
    const b = newFileId();
    const a0 = await storeAt(a, a, 0, 10);
    const a1 = await storeAt(a, a, 1, 40);
    const b3 = await storeAt(epochId(b, 3), b, 1, 25);
    await storeAt(b, b, 1, 99);
    const empty = newFileId();
    const res = await post(JSON.stringify({ tokens: [await listToken(b, 3), await listToken(empty), await listToken(a)] }));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      files: [
        { fileId: b, chunks: [{ index: 1, size: b3.length, digest: sha(b3) }] },
        { fileId: empty, chunks: [] },
        {
          fileId: a,
          chunks: [
            { index: 0, size: a0.length, digest: sha(a0) },
            { index: 1, size: a1.length, digest: sha(a1) }
          ]
        }
      ]
    });
  });

  it("fails only the item whose token is not a list token for this relay, with that token's code", async () => {
    const a = newFileId();
    const a1 = await storeAt(a, a, 1, 12);
    const tokens = [
      await signer.mint({ fid: a, op: 'put', chunks: [0, 5] }),
      await signer.mint({ fid: a, op: 'list', chunks: [0, 0] }, { aud: 'another-relay' }),
      await signer.mint({ fid: a, op: 'list', chunks: [0, 0] }, { exp: -120 }),
      'not.a.token',
      await listToken(a)
    ];
    const res = await post(JSON.stringify({ tokens }));
    expect(res.status).toBe(200);
    const { files } = (await res.json()) as { files: Array<{ error?: { code: string }; fileId?: string }> };
    expect(files.map((f) => f.error?.code ?? f.fileId)).toEqual(['TOKEN_OUT_OF_SCOPE', 'TOKEN_WRONG_AUDIENCE', 'TOKEN_EXPIRED', 'TOKEN_INVALID', a]);
    expect(files[4]).toEqual({ fileId: a, chunks: [{ index: 1, size: a1.length, digest: sha(a1) }] });
  });

  it('refuses a body that is not 1..MAX_LIST_BATCH tokens with 400, an oversized one with 413', async () => {
    const token = await listToken(newFileId());
    const bad = ['', 'not json', '[]', '{}', '{"tokens":[]}', '{"tokens":"x"}', '{"tokens":[1]}', '{"tokens":[""]}', JSON.stringify({ tokens: ['x'.repeat(4097)] })];
    for (const body of bad) {
      const res = await post(body);
      expect([body.slice(0, 20), res.status, ((await res.json()) as { error: { code: string } }).error.code]).toEqual([body.slice(0, 20), 400, 'BAD_REQUEST']);
    }
    const many = await post(JSON.stringify({ tokens: Array.from({ length: MAX_LIST_BATCH + 1 }, () => token) }));
    expect([many.status, ((await many.json()) as { error: { code: string } }).error.code]).toEqual([400, 'BAD_REQUEST']);
    const huge = await post(JSON.stringify({ tokens: [token], pad: 'x'.repeat(MAX_LIST_BATCH_BODY) }));
    expect([huge.status, ((await huge.json()) as { error: { code: string } }).error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
  });

  it('answers MAX_LIST_BATCH files in one request', async () => {
    const ids = Array.from({ length: MAX_LIST_BATCH }, () => newFileId());
    const res = await post(JSON.stringify({ tokens: await Promise.all(ids.map((id) => listToken(id))) }));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { files: Array<{ fileId: string }> }).files.map((f) => f.fileId)).toEqual(ids);
  });
});
