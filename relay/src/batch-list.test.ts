/**
 * Many files' chunk lists in one request (batch-list.ts, issue #14), through `app.request()` on a real disk
 * store with real tokens: each token lists only the file it names, at the epoch it names; a token that is
 * not a `list` token for this relay fails its own item with its code and the others are answered; a body
 * that is not a list of 1..MAX_LIST_BATCH tokens is a 400, an oversized one a 413, never a 500. Under the
 * request limit (issue #24), on a store that holds listings to count them: a batch holds a request slot per
 * listing it runs at once, so batches fill the relay as the same listings sent alone do, a flood of them
 * never lists more at once than the relay has slots, and a full batch still goes through on a busy relay.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { LIST_BATCH_PATH, MAX_LIST_BATCH, MAX_LIST_BATCH_BODY } from '@kofn/shared';
import type { createApp } from './app.js';
import { DiskStore } from './storage/disk.js';
import type { ChunkInfo } from './storage/types.js';
import { DEFAULT_LIMITS } from './server-limits.js';
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

/** A disk store that counts the listings in progress and holds those of `held` files until `release()`. */
class HeldStore extends DiskStore {
  readonly held = new Set<string>();
  /** Every file a listing was asked for. */
  readonly seen = new Set<string>();
  listing = 0;
  peak = 0;
  #let: () => void = () => undefined;
  #released = this.#next();

  #next(): Promise<void> {
    return new Promise<void>((go) => (this.#let = go));
  }

  override async list(fileId: string): Promise<ChunkInfo[]> {
    this.seen.add(fileId);
    this.listing += 1;
    this.peak = Math.max(this.peak, this.listing);
    try {
      if (this.held.has(fileId)) await this.#released;
      return await super.list(fileId);
    } finally {
      this.listing -= 1;
    }
  }

  release(): void {
    this.held.clear();
    this.#let();
    this.#released = this.#next();
  }
}

/** Waits until `ok()` holds, failing after 10 s (what the test waits for never happened). */
async function until(ok: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !ok(); waited += 5) {
    if (waited > 10_000) throw new Error(`not within 10 s: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('POST /v1/files/lists under the request limit (issue #24)', () => {
  /** A relay with `max` request slots over a HeldStore, and its single and batch listing requests. */
  async function busyRelay(max: number) {
    let held!: HeldStore;
    const t = await testRelay({ maxRequests: max, store: (root) => (held = new HeldStore(root)) });
    const token = (fid: string) => t.signer.mint({ fid, op: 'list', chunks: [0, 0] });
    return {
      store: held,
      tokens: (fids: string[]) => Promise.all(fids.map(token)),
      single: async (fid: string) => t.app.request(`/v1/files/${fid}/chunks`, { headers: { Authorization: `Bearer ${await token(fid)}` } }),
      batch: async (tokens: string[]) => t.app.request(LIST_BATCH_PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tokens }) })
    };
  }
  const fileIds = (n: number) => Array.from({ length: n }, () => newFileId());
  const listed = async (res: Response) => ((await res.json()) as { files: Array<{ fileId?: string }> }).files.map((f) => f.fileId);

  it('charges a batch a slot per listing it runs at once: two batches of 8 fill 16 slots as 16 single lists do', async () => {
    const r = await busyRelay(16);
    const alone = fileIds(16);
    for (const f of alone) r.store.held.add(f);
    const singles = alone.map((f) => r.single(f));
    await until(() => r.store.listing === 16, '16 single listings in progress');
    // Full: the next request is refused, whether a single list or a batch of one.
    expect((await r.single(newFileId())).status).toBe(429);
    expect((await r.batch(await r.tokens([newFileId()]))).status).toBe(429);
    r.store.release();
    expect((await Promise.all(singles)).map((s) => s.status)).toEqual(alone.map(() => 200));

    const [a, b] = [fileIds(8), fileIds(8)];
    for (const f of [...a, ...b]) r.store.held.add(f);
    const batches = [r.batch(await r.tokens(a)), r.batch(await r.tokens(b))];
    await until(() => r.store.listing === 16, 'two batches of 8 listing');
    expect((await r.single(newFileId())).status).toBe(429);
    const refused = await r.batch(await r.tokens([newFileId()]));
    expect([refused.status, refused.headers.get('retry-after')]).toEqual([429, '1']);
    r.store.release();
    const [ra, rb] = await Promise.all(batches);
    expect([ra!.status, rb!.status]).toEqual([200, 200]);
    expect([await listed(ra!), await listed(rb!)]).toEqual([a, b]);
    expect(r.store.peak).toBe(16);
  });

  it('lets a flood of batches list no more at once than the relay has slots, and gives every slot back', async () => {
    const r = await busyRelay(16);
    const groups = Array.from({ length: 20 }, () => fileIds(16));
    for (const f of groups.flat()) r.store.held.add(f);
    const tokens = await Promise.all(groups.map((g) => r.tokens(g)));
    let answered = 0;
    const flood = tokens.map((t) => r.batch(t).finally(() => (answered += 1)));
    // Every batch is refused at once or is listing (held) before the store lets go.
    const started = () => groups.filter((g) => g.some((f) => r.store.seen.has(f))).length;
    await until(() => answered + started() === groups.length && r.store.listing >= 16, 'every batch refused or listing');
    r.store.release();
    const answers = await Promise.all(flood);
    // Without the charge, 16 admitted batches ran 8 listings each: 128 at once.
    expect(r.store.peak).toBe(16);
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(groups.length - 16);
    for (const [i, a] of answers.entries()) if (a.status === 200) expect(await listed(a)).toEqual(groups[i]);
    // All slots came back: 16 single lists are taken again, the 17th is refused.
    const again = fileIds(16);
    for (const f of again) r.store.held.add(f);
    const singles = again.map((f) => r.single(f));
    await until(() => r.store.listing === 16, '16 single listings in progress');
    expect((await r.single(newFileId())).status).toBe(429);
    r.store.release();
    expect((await Promise.all(singles)).every((s) => s.status === 200)).toBe(true);
  });

  it('answers a batch of MAX_LIST_BATCH at the default limit, on an idle relay and beside 255 listings in progress', async () => {
    const r = await busyRelay(DEFAULT_LIMITS.maxRequests);
    const ids = fileIds(MAX_LIST_BATCH);
    const tokens = await r.tokens(ids);
    const idle = await r.batch(tokens);
    expect(idle.status).toBe(200);
    expect(await listed(idle)).toEqual(ids);
    expect(r.store.peak).toBeLessThanOrEqual(8);

    const busy = fileIds(DEFAULT_LIMITS.maxRequests - 1);
    for (const f of busy) r.store.held.add(f);
    const singles = busy.map((f) => r.single(f));
    await until(() => r.store.listing === busy.length, '255 single listings in progress');
    const full = await r.batch(tokens);
    expect(full.status).toBe(200);
    expect(await listed(full)).toEqual(ids);
    // On the one slot left: one listing at a time.
    expect(r.store.peak).toBe(DEFAULT_LIMITS.maxRequests);
    r.store.release();
    expect((await Promise.all(singles)).every((s) => s.status === 200)).toBe(true);
  });
});
