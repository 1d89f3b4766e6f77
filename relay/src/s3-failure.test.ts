/**
 * S3 gets the disk's failure guarantees (issue #24), with a real relay process on a real s3rver: the
 * S3 server stops in the middle of the relay's PUT to it, or the relay is killed -9 in the middle of
 * one. Either way no partial chunk is ever listed or served, no spool file is left behind, the client
 * gets a stable error code (never a 500, never a hang), and the same upload succeeds once S3 is back.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import S3rver from 's3rver';
import { startRelayProcess, type RelayProcess } from './testing/process.js';
import { newFileId, shareChunk } from './testing/chunks.js';
import { S3Store } from './storage/s3.js';
import { ingest } from './storage/ingest.js';
import { startS3 } from './testing/s3.js';

const RELAY_ID = '00000000-0000-4000-8000-0000000000ee';
const BUCKET = 'kofn-test';
const CHUNK_BODY = 24 << 20;

/** s3rver on a fixed directory and port, that can be stopped abruptly and started again. */
class StoppableS3 {
  readonly directory = mkdtempSync(join(tmpdir(), 'kofn-s3stop-'));
  port = 0;
  #server: S3rver | undefined;
  #http: Server | undefined;

  async start(): Promise<void> {
    this.#server = new S3rver({ address: '127.0.0.1', port: this.port, silent: true, directory: this.directory, configureBuckets: [{ name: BUCKET }] });
    this.port = (await this.#server.run()).port;
    this.#http = this.#server.httpServer;
  }

  /** Calls `then` once a PUT of a chunk object has delivered at least `bytes` to S3, but not all of it. */
  onPutProgress(bytes: number, then: () => void): void {
    const http = this.#http!;
    const watch = (req: IncomingMessage) => {
      if (req.method !== 'PUT' || !req.url?.includes('/chunks/')) return;
      http.off('request', watch);
      const timer = setInterval(() => {
        if (req.socket.bytesRead >= bytes) {
          clearInterval(timer);
          then();
        }
      }, 1);
    };
    http.prependListener('request', watch);
  }

  /** Stops at once: open connections are cut, as a crashed or unplugged S3 would cut them. */
  async halt(): Promise<void> {
    const http = this.#http;
    if (!http?.listening) return;
    const closed = new Promise<void>((res) => http.close(() => res()));
    http.closeAllConnections();
    await closed;
  }
}

const s3 = new StoppableS3();
const relays: RelayProcess[] = [];
afterAll(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  await s3.halt();
});

async function s3Relay(spoolDir: string, tmp: string): Promise<RelayProcess> {
  const r = await startRelayProcess(RELAY_ID, {
    KOFN_RELAY_STORAGE: 'S3',
    KOFN_RELAY_S3_BUCKET: BUCKET,
    AWS_REGION: 'us-east-1',
    KOFN_RELAY_S3_ENDPOINT: `http://127.0.0.1:${s3.port}`,
    KOFN_RELAY_S3_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    ...(spoolDir ? { KOFN_RELAY_SPOOL: spoolDir } : {}),
    TMPDIR: tmp,
    KOFN_RELAY_STATE: tmp
  });
  relays.push(r);
  return r;
}

/** s3rver's files for this file's chunk objects (empty when none is left). */
function objectFiles(fid: string): string[] {
  const dir = join(s3.directory, BUCKET, 'chunks', fid);
  return existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('._S3rver_object')) : [];
}

/** Every spool file under `dir` (the relay's TMPDIR), whatever folder the relay chose inside it. */
function spoolFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.part'))
    .map((e) => join(e.parentPath, e.name));
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function put(r: RelayProcess, fid: string, body: Uint8Array<ArrayBuffer>): Promise<Response> {
  const token = await r.signer.mint({ fid, op: 'put', chunks: [1, 1], max: 32 << 20 });
  return fetch(`${r.url}/v1/files/${fid}/chunks/1`, { method: 'PUT', body, headers: { Authorization: `Bearer ${token}`, Connection: 'close' }, signal: AbortSignal.timeout(30_000) });
}

async function listed(r: RelayProcess, fid: string): Promise<unknown[]> {
  const token = await r.signer.mint({ fid, op: 'list' });
  const res = await fetch(`${r.url}/v1/files/${fid}/chunks`, { headers: { Authorization: `Bearer ${token}`, Connection: 'close' } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { chunks: unknown[] }).chunks;
}

async function read(r: RelayProcess, fid: string): Promise<{ status: number; bytes: Buffer }> {
  const token = await r.signer.mint({ fid, op: 'get', chunks: [1, 1] });
  const res = await fetch(`${r.url}/v1/files/${fid}/chunks/1`, { headers: { Authorization: `Bearer ${token}`, Connection: 'close' } });
  return { status: res.status, bytes: Buffer.from(await res.arrayBuffer()) };
}

describe('S3 failures mid-PUT', () => {
  it('S3 stopped during the relay\u2019s PUT: 503 UNAVAILABLE, nothing partial listed, spool cleaned, retry succeeds', { timeout: 90_000 }, async () => {
    await s3.start();
    const tmp = mkdtempSync(join(tmpdir(), 'kofn-s3tmp-'));
    const spool = mkdtempSync(join(tmpdir(), 'kofn-s3spool-'));
    const r = await s3Relay(spool, tmp);
    const fid = newFileId();
    const body = shareChunk(fid, 1, CHUNK_BODY, 3);

    let halted: Promise<void> | undefined;
    s3.onPutProgress(1 << 20, () => {
      halted = s3.halt();
    });
    const res = await put(r, fid, body);
    expect(halted).toBeDefined();
    await halted;
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    expect(readdirSync(spool)).toEqual([]);

    await s3.start();
    expect(await listed(r, fid)).toEqual([]);
    expect((await read(r, fid)).status).toBe(404);
    // s3rver kept the bytes it got (a torn object); deleting the file removes them too.
    expect(objectFiles(fid).length).toBeGreaterThan(0);
    const del = await fetch(`${r.url}/v1/files/${fid}`, { method: 'DELETE', headers: { Authorization: `Bearer ${await r.signer.mint({ fid, op: 'delete_file' })}`, Connection: 'close' } });
    expect(await del.json()).toEqual({ deleted: 0 });
    expect(objectFiles(fid)).toEqual([]);

    const again = await put(r, fid, body);
    expect(again.status).toBe(201);
    expect(await listed(r, fid)).toEqual([{ index: 1, size: body.length, digest: sha(body) }]);
    const back = await read(r, fid);
    expect(back.status).toBe(200);
    expect(sha(back.bytes)).toBe(sha(body));
    expect(readdirSync(spool)).toEqual([]);
  });

  it('relay killed -9 during its PUT to S3, with the default spool folder: after restart nothing partial is listed and no spool file is left', { timeout: 90_000 }, async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'kofn-s3tmp-'));
    let r = await s3Relay('', tmp);
    const fid = newFileId();
    const body = shareChunk(fid, 1, CHUNK_BODY, 5);

    let killed: Promise<void> | undefined;
    s3.onPutProgress(1 << 20, () => {
      killed = r.stop();
    });
    const res = await put(r, fid, body).then(
      (x) => x.status,
      () => 0
    );
    expect(killed).toBeDefined();
    await killed;
    expect(res).toBe(0);
    // The dead relay's spool still holds the chunk it was sending: a crash leaves it behind.
    expect(spoolFiles(tmp).length).toBeGreaterThan(0);

    r = await s3Relay('', tmp);
    expect(spoolFiles(tmp)).toEqual([]);
    expect(await listed(r, fid)).toEqual([]);
    expect((await read(r, fid)).status).toBe(404);
    expect((await put(r, fid, body)).status).toBe(201);
    expect(sha((await read(r, fid)).bytes)).toBe(sha(body));
    expect(spoolFiles(tmp)).toEqual([]);
  });

  it('S3 that accepts the connection and never answers: the PUT fails with UNAVAILABLE in bounded time, spool removed, chunk lock released', { timeout: 60_000 }, async () => {
    // A real socket that reads everything and never answers (a hung S3 or a black-holing proxy).
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket.on('data', () => undefined).on('error', () => undefined)));
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    const spool = mkdtempSync(join(tmpdir(), 'kofn-s3spool-'));
    const store = new S3Store({
      bucket: BUCKET,
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      spoolDir: spool,
      timeoutMs: 500
    });
    try {
      const fid = newFileId();
      const bytes = shareChunk(fid, 1, 1000);
      const commit = async () => {
        const spooled = await ingest(new Blob([bytes]).stream(), { spoolDir: spool, maxBytes: 1 << 20, fileId: fid, index: 1 });
        return store.commit(fid, 1, spooled).then(
          () => 'stored',
          (err: unknown) => (err as { code?: string }).code
        );
      };
      const t0 = Date.now();
      // Twice on one chunk: the second waits for the first's lock, so it only ends if the lock is released.
      expect(await Promise.all([commit(), commit()])).toEqual(['UNAVAILABLE', 'UNAVAILABLE']);
      // The SDK tries 3 times per call: 2 calls x 3 attempts x 0.5 s, plus its backoff.
      expect(Date.now() - t0).toBeLessThan(15_000);
      expect(readdirSync(spool)).toEqual([]);
    } finally {
      store.destroy();
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });
});

describe('two relay processes sharing one bucket (issue #24)', () => {
  it('race one chunk with different bytes: exactly one answers 201, the other 409, and both serve the winner', { timeout: 90_000 }, async () => {
    // AWS S3's conditional writes in front of s3rver (testing/s3.ts): s3rver alone ignores If-None-Match.
    const shared = await startS3({ conditionalWrites: 'aws' });
    const env = (tmp: string) => ({
      KOFN_RELAY_STORAGE: 'S3',
      KOFN_RELAY_S3_BUCKET: shared.bucket,
      AWS_REGION: shared.region,
      KOFN_RELAY_S3_ENDPOINT: shared.endpoint,
      KOFN_RELAY_S3_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: shared.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: shared.credentials.secretAccessKey,
      TMPDIR: tmp,
      KOFN_RELAY_STATE: tmp
    });
    try {
      const [a, b] = await Promise.all([
        startRelayProcess(RELAY_ID, env(mkdtempSync(join(tmpdir(), 'kofn-s3race-a-')))),
        startRelayProcess(RELAY_ID, env(mkdtempSync(join(tmpdir(), 'kofn-s3race-b-'))))
      ]);
      relays.push(a, b);
      const fid = newFileId();
      const [bodyA, bodyB] = [shareChunk(fid, 1, 4096, 0xaa), shareChunk(fid, 1, 4096, 0xbb)];
      // Both relays have looked (HEAD: nothing there) before either PUT reaches S3.
      const met = shared.holdPuts(2);
      const [resA, resB] = await Promise.all([put(a, fid, bodyA), put(b, fid, bodyB)]);
      await met;
      expect([resA.status, resB.status].sort()).toEqual([201, 409]);
      const loser = resA.status === 409 ? resA : resB;
      expect(((await loser.json()) as { error: { code: string } }).error.code).toBe('CONFLICT');
      const winnerBody = resA.status === 201 ? bodyA : bodyB;
      for (const r of [a, b]) {
        const got = await read(r, fid);
        expect(got.status).toBe(200);
        expect(sha(got.bytes)).toBe(sha(winnerBody));
        expect(await listed(r, fid)).toEqual([{ index: 1, size: winnerBody.length, digest: sha(winnerBody) }]);
      }
    } finally {
      await shared.stop();
    }
  });
});
