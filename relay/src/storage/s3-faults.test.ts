/**
 * S3Store under faults a healthy s3rver never shows (issue #24, Stryker on s3.ts), injected in front of
 * the real s3rver (testing/s3.ts) or by a real loopback socket: listings that continue over several pages,
 * S3 failing on its side (5xx) or refusing a write (403), an S3 that accepts and never answers, and
 * operations on different chunks arriving together (they must not wait for each other).
 */
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startS3Stores, type LocalS3, type S3Stores } from '../testing/s3.js';
import { newFileId, shareChunk, spoolChunk as spool } from '../testing/chunks.js';

let env: S3Stores;
let s3: LocalS3;
beforeAll(async () => {
  // Two keys per listing page: a handful of chunks takes several pages, as over 1000 keys on AWS S3.
  env = await startS3Stores({ listPageSize: 2 });
  s3 = env.s3;
});
afterAll(() => env.stop());

const open: S3Stores['open'] = (extra) => env.open(extra);

/** `work`'s result, or a failure naming `what` if it takes longer than `ms` (a wait that never ends). */
async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('S3Store over listings of several pages', () => {
  it('counts, lists and deletes every chunk of a file whose keys take three pages', async () => {
    const store = open();
    await store.init();
    const base = (await store.usage()).usedBytes;
    const fid = newFileId();
    for (let i = 0; i < 5; i++) await store.commit(fid, i, await spool(store, fid, i, shareChunk(fid, i, 10)));
    s3.requests.length = 0;
    expect((await store.list(fid)).map((c) => c.index)).toEqual([0, 1, 2, 3, 4]);
    // The listing really was paged: three requests, the later two with a continuation token.
    const listings = s3.requests.filter((r) => r.method === 'GET' && r.key === '');
    expect(listings).toHaveLength(3);
    expect(listings.slice(1).every((r) => r.query.includes('continuation-token='))).toBe(true);
    const again = open();
    await again.init();
    expect((await again.usage()).usedBytes).toBe(base + 5 * 50);
    expect(await again.deleteFile(fid)).toBe(5);
    expect(await again.list(fid)).toEqual([]);
    expect((await again.usage()).usedBytes).toBe(base);
  });
});

describe('S3Store when S3 answers with an error', () => {
  it('answers a 500 from S3 as an outage (UNAVAILABLE), not as S3\u2019s own error', { timeout: 60_000 }, async () => {
    const store = open();
    await store.init();
    const fid = newFileId();
    s3.fault({ method: 'HEAD', status: 500, code: 'InternalError' });
    try {
      await expect(store.head(fid, 1)).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'The storage server\u2019s backend is unreachable.' });
    } finally {
      s3.fault(undefined);
    }
  });

  it('answers a refused write (403) with S3\u2019s error at once: no retry as a lost race, no spool file left', async () => {
    const store = open();
    await store.init();
    const fid = newFileId();
    const sp = await spool(store, fid, 1, shareChunk(fid, 1, 10));
    s3.requests.length = 0;
    s3.fault({ method: 'PUT', status: 403, code: 'AccessDenied' });
    let err: { code?: unknown; name?: string } | undefined;
    try {
      err = await store.commit(fid, 1, sp).then(
        () => undefined,
        (e: unknown) => e as { code?: unknown; name?: string }
      );
    } finally {
      s3.fault(undefined);
    }
    // Misconfiguration (credentials, bucket policy) is logged as S3 said it, not turned into a kofn code.
    expect(err?.name).toBe('AccessDenied');
    expect(err?.code).toBeUndefined();
    expect(s3.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
    expect(existsSync(sp.path)).toBe(false);
    expect(await store.head(fid, 1)).toBeUndefined();
  });
});

describe('S3Store with operations on different chunks at once', () => {
  it('does not make a commit wait for a commit of another chunk', { timeout: 60_000 }, async () => {
    const store = open();
    await store.init();
    const fid = newFileId();
    const [one, two] = [await spool(store, fid, 1, shareChunk(fid, 1, 10)), await spool(store, fid, 2, shareChunk(fid, 2, 10))];
    // Both PUTs must reach s3rver before either is answered: a commit waiting for the other never would.
    const met = s3.hold(2, 'PUT');
    const results = await within(20_000, 'two commits of different chunks', Promise.all([store.commit(fid, 1, one), store.commit(fid, 2, two)]));
    await met;
    expect(results).toEqual([{ created: true }, { created: true }]);
  });

  it('does not make a delete wait for a delete of another chunk', { timeout: 60_000 }, async () => {
    const store = open();
    await store.init();
    const fid = newFileId();
    for (const i of [1, 2]) await store.commit(fid, i, await spool(store, fid, i, shareChunk(fid, i, 10)));
    const met = s3.hold(2, 'DELETE');
    const results = await within(20_000, 'two deletes of different chunks', Promise.all([store.delete(fid, 1), store.delete(fid, 2)]));
    await met;
    expect(results).toEqual([true, true]);
    expect(await store.list(fid)).toEqual([]);
  });
});

describe('S3Store with an S3 that accepts connections and never answers', () => {
  let stalled: Server;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    stalled = createServer((s) => {
      sockets.push(s);
    });
    await new Promise<void>((res) => stalled.listen(0, '127.0.0.1', res));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((res) => stalled.close(() => res()));
  });

  it('gives up after the configured silence with UNAVAILABLE, well before the 60 s default', { timeout: 60_000 }, async () => {
    const { port } = stalled.address() as AddressInfo;
    // 300 ms of silence per attempt; the SDK tries three times. 20 s is far above that on a loaded
    // machine and far below the default 60 s per attempt (or forever, without the limits).
    const store = open({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 300 });
    const fid = newFileId();
    await expect(within(20_000, 'HEAD on a silent S3', store.head(fid, 1))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(sockets.length).toBeGreaterThan(0);
  });
});
