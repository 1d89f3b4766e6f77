/**
 * S3Store details the shared suites leave open, on a real s3rver (issue #24, Stryker on s3.ts): counts
 * kept across starts, objects written before the size was recorded, torn objects on read and delete, the
 * capacity figure, and which failures are outages (UNAVAILABLE) and which are misconfiguration; which
 * objects each operation touches (only the chunk's own, only its file's), from s3rver's request log.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Store } from './s3.js';
import { startS3Stores, type LocalS3, type S3Stores } from '../testing/s3.js';
import { newFileId, shareChunk, spoolChunk } from '../testing/chunks.js';

let env: S3Stores;
let s3: LocalS3;
let client: S3Client;
beforeAll(async () => {
  env = await startS3Stores();
  s3 = env.s3;
  client = new S3Client({ region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
});
afterAll(async () => {
  client.destroy();
  await env.stop();
});

const open: S3Stores['open'] = (extra) => env.open(extra);

async function put(store: S3Store, fid: string, index: number, bytes: Uint8Array) {
  return store.commit(fid, index, await spoolChunk(store, fid, index, bytes));
}

/** Writes an object directly, as another writer (an older relay, a torn PUT) left it. */
async function raw(key: string, body: Buffer, metadata?: Record<string, string>): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: body, ...(metadata ? { Metadata: metadata } : {}) }));
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('S3Store over a real s3rver', () => {
  it('counts stored bytes once however often it starts, and deleting a file finds all its objects', async () => {
    const fid = newFileId();
    const body = Buffer.alloc(3, 1);
    const meta = { sha256: sha(body), size: '3' };
    await Promise.all(Array.from({ length: 12 }, (_, i) => raw(`chunks/${fid}/${i}`, body, meta)));
    const store = open();
    await store.init();
    const first = (await store.usage()).usedBytes;
    expect(first).toBeGreaterThanOrEqual(36);
    await store.init();
    expect((await store.usage()).usedBytes).toBe(first);
    expect(await store.deleteFile(fid)).toBe(12);
    expect((await store.usage()).usedBytes).toBe(first - 36);
  });

  it('removes spool files left at start', async () => {
    const store = open();
    writeFileSync(join(store.spoolDir, 'left.part'), 'x');
    await store.init();
    expect(readdirSync(store.spoolDir)).toEqual([]);
  });

  it('takes an object written before sizes were recorded (digest only) as a whole chunk', async () => {
    const store = open();
    await store.init();
    const fid = newFileId();
    const bytes = Buffer.from(shareChunk(fid, 1, 50, 3));
    await raw(`chunks/${fid}/1`, bytes, { sha256: sha(bytes) });
    expect(await store.head(fid, 1)).toEqual({ index: 1, size: bytes.length, digest: sha(bytes) });
    expect((await store.list(fid)).map((c) => c.index)).toEqual([1]);
    const got = await store.get(fid, 1);
    expect(got).toMatchObject({ index: 1, size: bytes.length, digest: sha(bytes) });
    const parts: Buffer[] = [];
    for await (const p of got!.open()) parts.push(p as Buffer);
    expect(Buffer.concat(parts)).toEqual(bytes);
  });

  it('hides an object whose recorded size is not its size, or that has no digest (torn), from every read', async () => {
    const store = open();
    await store.init();
    const fid = newFileId();
    const bytes = Buffer.from(shareChunk(fid, 1, 50, 4));
    await raw(`chunks/${fid}/1`, bytes.subarray(0, 30), { sha256: sha(bytes), size: String(bytes.length) });
    await raw(`chunks/${fid}/2`, bytes.subarray(0, 30));
    for (const i of [1, 2]) {
      expect(await store.head(fid, i)).toBeUndefined();
      expect(await store.get(fid, i)).toBeUndefined();
    }
    expect(await store.list(fid)).toEqual([]);
    const scrubbed = await store.scrub();
    expect(scrubbed.corrupt).not.toContainEqual({ fileId: fid, index: 1 });
    // Deleting one chunk leaves a torn object alone (nothing was stored); deleting the file removes it.
    expect(await store.delete(fid, 1)).toBe(false);
    expect(existsSync(s3.objectPath(`chunks/${fid}/1`))).toBe(true);
    expect(await store.deleteFile(fid)).toBe(0);
    expect(existsSync(s3.objectPath(`chunks/${fid}/1`))).toBe(false);
    expect(existsSync(s3.objectPath(`chunks/${fid}/2`))).toBe(false);
  });

  it('reports free space as capacity minus used, never below 0, and none without a capacity', async () => {
    const probe = open();
    await probe.init();
    const used = (await probe.usage()).usedBytes;
    expect((await probe.usage()).freeBytes).toBeNull();
    const roomy = open({ capacityBytes: used + 1000 });
    await roomy.init();
    expect(await roomy.usage()).toEqual({ usedBytes: used, freeBytes: 1000 });
    const full = open({ capacityBytes: Math.max(0, used - 1) });
    await full.init();
    const fid = newFileId();
    await put(full, fid, 1, shareChunk(fid, 1, 10));
    expect(await full.usage()).toEqual({ usedBytes: used + 50, freeBytes: 0 });
  });

  it('counts only chunk objects at start, not other objects an operator keeps in the bucket', async () => {
    const store = open();
    await store.init();
    const before = (await store.usage()).usedBytes;
    await raw(`notes/${newFileId()}`, Buffer.alloc(700, 1));
    await store.init();
    expect((await store.usage()).usedBytes).toBe(before);
  });

  it('makes its spool folder at start even when the folder above it does not exist yet', async () => {
    const spoolDir = join(mkdtempSync(join(tmpdir(), 'kofn-s3edges-nested-')), 'a', 'b', 'spool');
    const store = open({ spoolDir });
    await store.init();
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('lists only the file’s own chunks when another file uses the same indices', async () => {
    const store = open();
    await store.init();
    const [a, b] = [newFileId(), newFileId()];
    await put(store, a, 1, shareChunk(a, 1, 10));
    await put(store, b, 1, shareChunk(b, 1, 10));
    await put(store, b, 2, shareChunk(b, 2, 10));
    expect((await store.list(a)).map((c) => c.index)).toEqual([1]);
    expect((await store.list(b)).map((c) => c.index)).toEqual([1, 2]);
  });

  it('deleting a file sends one DELETE per object of that file and touches no other file’s keys', async () => {
    const store = open();
    await store.init();
    const [a, b] = [newFileId(), newFileId()];
    for (const i of [0, 1]) await put(store, a, i, shareChunk(a, i, 10));
    for (const i of [2, 3, 4]) await put(store, b, i, shareChunk(b, i, 10));
    s3.requests.length = 0;
    expect(await store.deleteFile(a)).toBe(2);
    // A DELETE per key listed anywhere in the bucket would cost a request per object the bucket holds.
    expect(s3.requests.filter((r) => r.method === 'DELETE').map((r) => r.key)).toEqual([`chunks/${a}/0`, `chunks/${a}/1`]);
    expect((await store.list(b)).map((c) => c.index)).toEqual([2, 3, 4]);
  });

  it('commits to an empty key without any DELETE (it could remove a chunk another relay wrote since the look)', async () => {
    const store = open();
    await store.init();
    const fid = newFileId();
    s3.requests.length = 0;
    expect(await put(store, fid, 1, shareChunk(fid, 1, 10))).toEqual({ created: true });
    expect(s3.requests.filter((r) => r.key === `chunks/${fid}/1`).map((r) => r.method)).toEqual(['HEAD', 'PUT']);
  });

  it('sends and stores chunks as application/octet-stream', async () => {
    const store = open();
    await store.init();
    const fid = newFileId();
    s3.requests.length = 0;
    await put(store, fid, 1, shareChunk(fid, 1, 10));
    // On the PUT itself (the SDK also sends this type when none is given, see stryker/equivalent-mutants.md).
    expect(s3.requests.find((r) => r.method === 'PUT')?.contentType).toBe('application/octet-stream');
    const h = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `chunks/${fid}/1` }));
    expect(h.ContentType).toBe('application/octet-stream');
  });

  it('puts the bucket in the host name by default (virtual-hosted style, as AWS S3 expects)', async () => {
    // `kofn-test.localhost` either does not resolve (UNAVAILABLE) or reaches s3rver, which then takes the
    // whole host name for the bucket (NoSuchBucket): either way not the path-style bucket, which works.
    const store = open({ endpoint: s3.endpoint.replace('127.0.0.1', 'localhost'), forcePathStyle: undefined, timeoutMs: 2000 });
    const err = await store.init().then(
      () => undefined,
      (e: unknown) => e as { code?: string; name?: string }
    );
    expect(err?.code === 'UNAVAILABLE' || err?.name === 'NoSuchBucket').toBe(true);
  });

  it('addresses the bucket in the path when asked, also over an endpoint named by host name', async () => {
    // Over an IP endpoint the SDK uses path-style URLs anyway; over a name it would put the bucket in
    // the host name (kofn-test.localhost), which s3rver is not reached by here.
    const store = open({ endpoint: s3.endpoint.replace('127.0.0.1', 'localhost'), forcePathStyle: true });
    await store.init();
    const fid = newFileId();
    expect(await put(store, fid, 1, shareChunk(fid, 1, 10))).toEqual({ created: true });
    expect((await store.head(fid, 1))?.size).toBe(50);
  });

  it('answers a misconfigured bucket (a 4xx from S3) with S3\u2019s own error, not as an outage', async () => {
    const store = open({ bucket: 'no-such-bucket' });
    const err = await store.init().then(
      () => undefined,
      (e: unknown) => e as { code?: string; name?: string; $metadata?: { httpStatusCode?: number } }
    );
    expect(err?.code).toBeUndefined();
    expect(err?.$metadata?.httpStatusCode).toBe(404);
    expect(err?.name).toBe('NoSuchBucket');
  });

  it('answers a chunk read in a bucket that is gone as absent, by HEAD and by GET alike', async () => {
    // S3 answers a HEAD without a body, so a HEAD cannot tell NoSuchBucket from NoSuchKey (both 404
    // NotFound); GET, which could, answers the same, so `get` and `head` never disagree. The relay learns
    // of the missing bucket from its start-up listing and from writes (the test above).
    const store = open({ bucket: 'no-such-bucket' });
    const fid = newFileId();
    expect(await store.head(fid, 1)).toBeUndefined();
    expect(await store.get(fid, 1)).toBeUndefined();
  });
});

describe('S3Store with S3 unreachable', () => {
  it('answers every operation with UNAVAILABLE, and removes the spool file of a refused commit', { timeout: 120_000 }, async () => {
    // A loopback port nobody listens on: connections are refused at once.
    const closed = createServer();
    await new Promise<void>((res) => closed.listen(0, '127.0.0.1', res));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((res) => closed.close(() => res()));
    const store = open({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1000 });
    const fid = newFileId();
    const unavailable = { code: 'UNAVAILABLE', message: 'The storage server\u2019s backend is unreachable.' };
    await expect(store.init()).rejects.toMatchObject(unavailable);
    await expect(store.head(fid, 1)).rejects.toMatchObject(unavailable);
    await expect(store.get(fid, 1)).rejects.toMatchObject(unavailable);
    await expect(store.list(fid)).rejects.toMatchObject(unavailable);
    await expect(store.delete(fid, 1)).rejects.toMatchObject(unavailable);
    const spooled = await spoolChunk(store, fid, 1, shareChunk(fid, 1, 10));
    await expect(store.commit(fid, 1, spooled)).rejects.toMatchObject(unavailable);
    expect(existsSync(spooled.path)).toBe(false);
  });
});

/**
 * A loopback peer that never completes the TCP handshake: a listener (backlog 1) in a stopped process, its accept
 * queue filled by other connections, so the kernel drops every further SYN (Linux: a full accept queue drops the
 * SYN, tcp_conn_request) and a client's connect hangs until its own timeout.
 */
async function silentPeer(): Promise<{ port: number; close: () => Promise<void> }> {
  const child = spawn(process.execPath, ['-e', "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { console.log(this.address().port) })"], {
    stdio: ['ignore', 'pipe', 'inherit']
  });
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  child.kill('SIGSTOP');
  const fillers: Socket[] = [];
  // Connections the kernel completes for the stopped listener until its queue is full: one that does not connect
  // within 300 ms met the dropped SYN.
  for (let i = 0; i < 16; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    fillers.push(socket);
    const connected = await Promise.race([once(socket, 'connect').then(() => true), new Promise<boolean>((res) => setTimeout(() => res(false), 300))]);
    if (!connected) break;
  }
  return {
    port,
    close: async () => {
      for (const socket of fillers) socket.destroy();
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  };
}

describe('S3Store with a backend that never completes the handshake', () => {
  it('gives up connecting after its own timeout, not the SDK cap of 10 s (UNAVAILABLE)', { timeout: 60_000 }, async () => {
    const peer = await silentPeer();
    try {
      const store = open({ endpoint: `http://127.0.0.1:${peer.port}`, timeoutMs: 500 });
      const started = Date.now();
      await expect(store.head(newFileId(), 1)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      // The SDK tries three times (standard retry mode) with its backoff between: 3 x 0.5 s and under a second of
      // backoff here; a connect timeout of 10 s would take over 30 s. 9 s leaves room for a loaded machine.
      expect(Date.now() - started).toBeLessThan(9_000);
    } finally {
      await peer.close();
    }
  });
});
