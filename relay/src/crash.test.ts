/**
 * Crash safety with a real relay process: kill -9 at recorded points of one upload (spool opened, spool
 * partly written, chunk linked), and at random moments during 200 uploads; restart, and check that every
 * acknowledged chunk is intact and that no partial chunk is visible.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { exportJWK } from 'jose';
import { makeSigner } from './testing/tokens.js';
import { newFileId, shareChunk } from './testing/chunks.js';
import { DiskStore } from './storage/disk.js';

const RELAY_ID = '00000000-0000-4000-8000-0000000000cc';
const main = join(import.meta.dirname, '..', 'dist', 'main.js');
const dataDir = mkdtempSync(join(tmpdir(), 'kofn-crash-'));
let child: ChildProcess | undefined;

async function start(publicJwk: string): Promise<string> {
  child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      KOFN_RELAY_NAME: 'crash',
      KOFN_RELAY_DATA: dataDir,
      KOFN_RELAY_PORT: '0',
      KOFN_RELAY_ID: RELAY_ID,
      KOFN_TOKEN_PUBLIC_JWK: publicJwk,
      KOFN_COORDINATOR: '',
      KOFN_LOG_LEVEL: 'warn'
    },
    stdio: ['ignore', 'pipe', 'inherit']
  });
  return new Promise((res, rej) => {
    createInterface({ input: child!.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { event: string; url: string };
      if (msg.event === 'listening') res(msg.url);
    });
    child!.once('exit', (code) => rej(new Error(`relay exited early (${code})`)));
  });
}

function kill9(): Promise<void> {
  const c = child!;
  return new Promise((res) => {
    if (c.exitCode !== null || c.signalCode !== null) {
      res();
      return;
    }
    c.removeAllListeners('exit');
    c.once('exit', () => res());
    c.kill('SIGKILL');
  });
}

afterAll(async () => {
  if (child) await kill9();
});

/** Polls (every 2 ms, for at most 20 s) until `seen()` holds: waits for an observable state, not a time. */
async function until(what: string, seen: () => boolean): Promise<void> {
  const end = Date.now() + 20_000;
  while (!seen()) {
    if (Date.now() > end) throw new Error(`never saw: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const spoolFiles = (): Array<{ name: string; size: number }> => {
  const dir = join(dataDir, 'tmp');
  return readdirSync(dir).flatMap((name) => {
    try {
      return [{ name, size: statSync(join(dir, name)).size }];
    } catch {
      return []; // removed between readdir and stat
    }
  });
};

describe('kill -9 at recorded points of one upload', () => {
  it('spool opened, spool partly written: nothing stored; chunk linked: stored whole', { timeout: 120_000 }, async () => {
    const signer = await makeSigner(RELAY_ID);
    const jwk = JSON.stringify(await exportJWK(signer.publicKey));
    const fid = newFileId();
    const put = await signer.mint({ fid, op: 'put', chunks: [1, 3], max: 4 << 20 }, { exp: 900 });
    const chunkDir = join(dataDir, 'chunks', fid.slice(0, 2), fid);
    const chunkFiles = (): string[] => {
      try {
        return readdirSync(chunkDir);
      } catch {
        return [];
      }
    };
    // The client sends `sendFirst` bytes, then holds the rest back until told (or forever).
    const upload = (url: string, index: number, body: Uint8Array, sendFirst: number) => {
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          if (sendFirst > 0) c.enqueue(body.subarray(0, sendFirst));
          if (sendFirst >= body.length) c.close();
        },
        pull: () => new Promise<void>(() => undefined)
      });
      return fetch(`${url}/v1/files/${fid}/chunks/${index}`, { method: 'PUT', body: stream, headers: { Authorization: `Bearer ${put}` }, duplex: 'half' } as RequestInit).then(
        (r) => r.status,
        () => 0
      );
    };
    const bodies = [1, 2, 3].map((i) => shareChunk(fid, i, 1024 * 1024));

    // 1. Spool file opened, nothing written to it yet (10 bytes sent: not even a whole share header).
    let url = await start(jwk);
    const first = upload(url, 1, bodies[0]!, 10);
    await until('the spool file of chunk 1', () => spoolFiles().length === 1);
    expect(spoolFiles()[0]!.size).toBe(0);
    await kill9();
    expect(await first).toBe(0);

    // 2. Part of the body written to the spool file (ingest writes in 256 KiB batches).
    url = await start(jwk);
    expect(spoolFiles()).toEqual([]);
    const second = upload(url, 2, bodies[1]!, 600 * 1024);
    await until('256 KiB of chunk 2 in its spool file', () => spoolFiles().some((f) => f.size >= 256 * 1024));
    await kill9();
    expect(await second).toBe(0);

    // 3. The whole body sent: killed as soon as the chunk's name appears (linked, maybe not yet answered).
    url = await start(jwk);
    expect(spoolFiles()).toEqual([]);
    const third = upload(url, 3, bodies[2]!, bodies[2]!.length);
    await until('chunk 3 linked into place', () => chunkFiles().some((n) => n.startsWith('3.')));
    await kill9();
    expect([0, 201]).toContain(await third); // killed before or just after the answer: both are allowed

    await start(jwk);
    expect(spoolFiles()).toEqual([]);
    const store = new DiskStore(dataDir);
    const stored = await store.list(fid);
    expect(stored.map((c) => c.index)).toEqual([3]);
    expect(stored[0]!.digest).toBe(createHash('sha256').update(bodies[2]!).digest('hex'));
    expect((await store.scrub()).corrupt).toEqual([]);
    await kill9();
  });
});

describe('kill -9 during uploads', () => {
  it('keeps every acknowledged chunk intact and never shows a partial one', { timeout: 180_000 }, async () => {
    const signer = await makeSigner(RELAY_ID);
    const jwk = JSON.stringify(await exportJWK(signer.publicKey));
    const fid = newFileId();
    const token = await signer.mint({ fid, op: 'put', chunks: [1, 200], max: 4 << 20 }, { exp: 900 });
    let url = await start(jwk);
    const sent = new Map<number, string>();
    const acknowledged = new Set<number>();
    let kills = 0;
    let nextKill = randomInt(5, 25);
    for (let i = 1; i <= 200; i++) {
      const body = shareChunk(fid, i, randomInt(16 * 1024, 1536 * 1024));
      sent.set(i, createHash('sha256').update(body).digest('hex'));
      const upload = fetch(`${url}/v1/files/${fid}/chunks/${i}`, { method: 'PUT', body, headers: { Authorization: `Bearer ${token}` } }).then(
        (r) => r.status,
        () => 0
      );
      if (i === nextKill) {
        // Kill at a random moment inside this upload: before, during or after the body is written.
        await new Promise((r) => setTimeout(r, randomInt(0, 15)));
        await kill9();
        kills++;
        nextKill = i + randomInt(5, 25);
        const status = await upload;
        if (status === 200 || status === 201) acknowledged.add(i);
        url = await start(jwk);
        continue;
      }
      const status = await upload;
      if (status === 200 || status === 201) acknowledged.add(i);
    }
    await kill9();
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(acknowledged.size).toBeGreaterThan(150);

    // Restart: spool leftovers are cleared, every stored chunk is whole and matches what was sent.
    url = await start(jwk);
    expect(readdirSync(join(dataDir, 'tmp'))).toEqual([]);
    const store = new DiskStore(dataDir);
    const list = await store.list(fid);
    const stored = new Map(list.map((c) => [c.index, c.digest]));
    for (const i of acknowledged) expect(stored.get(i), `acknowledged chunk ${i}`).toBe(sent.get(i));
    for (const [i, digest] of stored) expect(digest, `chunk ${i} is a whole upload`).toBe(sent.get(i));
    expect((await store.scrub()).corrupt).toEqual([]);
    const read = await signer.mint({ fid, op: 'get', chunks: [1, 200] });
    for (const i of [...acknowledged].slice(0, 20)) {
      const res = await fetch(`${url}/v1/files/${fid}/chunks/${i}`, { headers: { Authorization: `Bearer ${read}` } });
      expect(
        createHash('sha256')
          .update(Buffer.from(await res.arrayBuffer()))
          .digest('hex')
      ).toBe(sent.get(i));
    }
  });
});
