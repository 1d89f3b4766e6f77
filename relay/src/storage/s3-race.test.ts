/**
 * Two relays sharing one bucket, racing on one chunk (issue #24). Each relay's own lock serialises its own
 * writers only: two relay processes (two S3Stores here, each with its own lock and spool folder, as two
 * processes have) both HEAD, find nothing and PUT. The relay's PUT is conditional (`If-None-Match: *`), so
 * on a store that honours it exactly one write wins and the other relay answers as if it had come second:
 * CONFLICT for different bytes, "already there" for the same bytes.
 *
 * s3rver ignores `If-None-Match` on PUT, so the `'aws'` server adds AWS S3's documented behaviour in front
 * of it (testing/s3.ts); the bytes are still stored and served by s3rver. `holdPuts(2)` makes both PUTs
 * reach the server before either is handled, so both relays have passed their HEAD: the race is forced
 * every run rather than hoped for. The last part pins what happens on a store without conditional writes.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Store } from './s3.js';
import { startS3Stores, type ConditionalWrites, type S3Stores } from '../testing/s3.js';
import { newFileId, shareChunk, spoolChunk as spool } from '../testing/chunks.js';

/** One relay's store over the shared bucket: its own lock and spool folder, as a separate process has. */
async function relayStore(env: S3Stores): Promise<S3Store> {
  const store = env.open();
  await store.init();
  return store;
}

async function readAll(store: S3Store, fid: string, index: number): Promise<Buffer | undefined> {
  const c = await store.get(fid, index);
  if (!c) return undefined;
  const parts: Buffer[] = [];
  for await (const p of c.open()) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** One s3rver per describe, in the given mode; read it inside tests. */
function server(mode: ConditionalWrites): () => S3Stores {
  let env: S3Stores | undefined;
  beforeAll(async () => {
    env = await startS3Stores({ conditionalWrites: mode });
  });
  afterAll(() => env?.stop());
  return () => env!;
}

describe('two relays on one bucket with conditional writes (AWS S3 behaviour)', () => {
  const env = server('aws');

  it('lets exactly one of two different chunks win; the other relay answers CONFLICT and stores nothing', async () => {
    const s3 = env().s3;
    const [a, b] = [await relayStore(env()), await relayStore(env())];
    const fid = newFileId();
    const bytesA = shareChunk(fid, 1, 300, 0xaa);
    const bytesB = shareChunk(fid, 1, 300, 0xbb);
    const [spA, spB] = [await spool(a, fid, 1, bytesA), await spool(b, fid, 1, bytesB)];
    const [usedA, usedB] = [(await a.usage()).usedBytes, (await b.usage()).usedBytes];
    const met = s3.holdPuts(2);
    const refusedBefore = s3.conditional.refused;
    const results = await Promise.allSettled([a.commit(fid, 1, spA), b.commit(fid, 1, spB)]);
    await met;

    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(won[0]!.value).toEqual({ created: true });
    expect(lost).toHaveLength(1);
    expect(lost[0]!.reason).toMatchObject({ code: 'CONFLICT', message: 'A different share chunk is already stored at this index.' });
    // The loser's PUT was the conditional one the server refused (not a HEAD that happened to see it).
    expect(s3.conditional.refused - refusedBefore).toBe(1);

    // Both relays now serve the winner's bytes, with the winner's digest; the loser counted nothing.
    const [winner, winnerBytes] = results[0].status === 'fulfilled' ? [a, bytesA] : [b, bytesB];
    const loser = winner === a ? b : a;
    for (const store of [a, b]) {
      expect(await readAll(store, fid, 1)).toEqual(Buffer.from(winnerBytes));
      expect(await store.head(fid, 1)).toEqual({ index: 1, size: winnerBytes.length, digest: sha(winnerBytes) });
    }
    expect((await winner.usage()).usedBytes - (winner === a ? usedA : usedB)).toBe(winnerBytes.length);
    expect((await loser.usage()).usedBytes - (loser === a ? usedA : usedB)).toBe(0);
    // Neither relay keeps its spool file.
    expect(existsSync(spA.path) || existsSync(spB.path)).toBe(false);
    expect([...readdirSync(a.spoolDir), ...readdirSync(b.spoolDir)]).toEqual([]);
  });

  it('lets two relays storing the same bytes both succeed, with one object written once', async () => {
    const s3 = env().s3;
    const [a, b] = [await relayStore(env()), await relayStore(env())];
    const fid = newFileId();
    const bytes = shareChunk(fid, 2, 200, 0x11);
    const [spA, spB] = [await spool(a, fid, 2, bytes), await spool(b, fid, 2, bytes)];
    const used = (await a.usage()).usedBytes + (await b.usage()).usedBytes;
    const met = s3.holdPuts(2);
    const results = await Promise.all([a.commit(fid, 2, spA), b.commit(fid, 2, spB)]);
    await met;
    // Exactly one created it; the other found the same chunk there (a retried upload, not an error).
    expect(results.map((r) => r.created).sort()).toEqual([false, true]);
    expect(await readAll(a, fid, 2)).toEqual(Buffer.from(bytes));
    expect((await a.usage()).usedBytes + (await b.usage()).usedBytes - used).toBe(bytes.length);
  });

  it('keeps the first chunk when a later relay writes different bytes after it (the HEAD sees it)', async () => {
    const [a, b] = [await relayStore(env()), await relayStore(env())];
    const fid = newFileId();
    const first = shareChunk(fid, 3, 100, 1);
    expect(await a.commit(fid, 3, await spool(a, fid, 3, first))).toEqual({ created: true });
    await expect(b.commit(fid, 3, await spool(b, fid, 3, shareChunk(fid, 3, 100, 2)))).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await readAll(b, fid, 3)).toEqual(Buffer.from(first));
  });

  it('replaces a torn object (never acknowledged) even though the conditional PUT would find it', async () => {
    const s3 = env().s3;
    const store = await relayStore(env());
    const fid = newFileId();
    // What s3rver keeps of a PUT cut off mid-body: some bytes and none of the relay's metadata.
    const client = new S3Client({ region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `chunks/${fid}/4`, Body: Buffer.alloc(40, 7) }));
    client.destroy();
    expect(await store.head(fid, 4)).toBeUndefined();
    const bytes = shareChunk(fid, 4, 120, 9);
    expect(await store.commit(fid, 4, await spool(store, fid, 4, bytes))).toEqual({ created: true });
    expect(await readAll(store, fid, 4)).toEqual(Buffer.from(bytes));
    expect(await store.head(fid, 4)).toEqual({ index: 4, size: bytes.length, digest: sha(bytes) });
  });
});

describe('a store that refuses conditional writes (501)', () => {
  const env = server('refuse');

  it('writes without the condition from then on, once per relay', async () => {
    const s3 = env().s3;
    const store = await relayStore(env());
    const fid = newFileId();
    const sentBefore = s3.conditional.sent;
    for (const i of [1, 2, 3]) {
      const bytes = shareChunk(fid, i, 80, i);
      expect(await store.commit(fid, i, await spool(store, fid, i, bytes))).toEqual({ created: true });
      expect(await readAll(store, fid, i)).toEqual(Buffer.from(bytes));
    }
    // Only the first PUT asked; the refusal is remembered rather than paid for on every chunk.
    expect(s3.conditional.sent - sentBefore).toBe(1);
    expect(readdirSync(store.spoolDir)).toEqual([]);
  });
});

describe('a store whose conditional writes keep conflicting (409)', () => {
  const env = server('conflict');

  it('gives up after three tries with UNAVAILABLE (retry later), storing nothing and leaving no spool file', async () => {
    const s3 = env().s3;
    const store = await relayStore(env());
    const fid = newFileId();
    const sp = await spool(store, fid, 1, shareChunk(fid, 1, 60));
    const refusedBefore = s3.conditional.refused;
    await expect(store.commit(fid, 1, sp)).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'Another write to this share chunk is in progress.' });
    expect(s3.conditional.refused - refusedBefore).toBe(3);
    expect(await store.head(fid, 1)).toBeUndefined();
    expect((await store.usage()).usedBytes).toBe(0);
    expect(existsSync(sp.path)).toBe(false);
  });
});

describe('a store without conditional writes (s3rver as it is): the documented limit', () => {
  const env = server('ignore');

  it('acknowledges both racing relays and keeps the last writer\u2019s bytes, consistent with their digest', async () => {
    const s3 = env().s3;
    const [a, b] = [await relayStore(env()), await relayStore(env())];
    const fid = newFileId();
    const bytesA = shareChunk(fid, 1, 300, 0xaa);
    const bytesB = shareChunk(fid, 1, 300, 0xbb);
    const [spA, spB] = [await spool(a, fid, 1, bytesA), await spool(b, fid, 1, bytesB)];
    const met = s3.holdPuts(2);
    const results = await Promise.all([a.commit(fid, 1, spA), b.commit(fid, 1, spB)]);
    await met;
    // The header was sent and ignored: both relays were told "stored", so one acknowledgement is false.
    expect(results).toEqual([{ created: true }, { created: true }]);
    expect(s3.conditional.sent).toBe(2);
    // What is served is still one whole chunk whose digest matches its bytes (never a mix).
    const stored = (await readAll(a, fid, 1))!;
    expect([sha(bytesA), sha(bytesB)]).toContain(sha(stored));
    expect((await a.head(fid, 1))!.digest).toBe(sha(stored));
  });
});
