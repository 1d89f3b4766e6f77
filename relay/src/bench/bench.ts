/**
 * `npm run bench -w relay`: PUT and GET throughput of 4 MiB share chunks over loopback against a real relay
 * process (disk backend), 1 and 16 concurrent, next to plain `fs` writing and reading the same bytes in
 * the same run (write + fsync + rename, as the relay does); and the relay's peak RSS with 32 concurrent
 * uploads. Medians of 3 rounds; MB = 10^6 bytes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open, readFile, rename, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { exportJWK } from 'jose';
import { makeSigner } from '../testing/tokens.js';
import { newFileId, shareChunk } from '../testing/chunks.js';

const RELAY_ID = '00000000-0000-4000-8000-0000000000dd';
const CHUNK_BODY = 4 * 1024 * 1024;
const PER_ROUND = 48;
const main = join(import.meta.dirname, '..', 'main.js');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const fmt = (x: number): string => x.toFixed(0);

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    })
  );
}

function vmHwmMB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const dataDir = mkdtempSync(join(tmpdir(), 'kofn-relay-bench-'));
const fsDir = mkdtempSync(join(tmpdir(), 'kofn-fs-bench-'));
const signer = await makeSigner(RELAY_ID);
const jwk = JSON.stringify(await exportJWK(signer.publicKey));

async function startRelay(): Promise<{ child: ReturnType<typeof spawn>; url: string }> {
  const child = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      KOFN_RELAY_DATA: dataDir,
      KOFN_RELAY_PORT: '0',
      KOFN_RELAY_ID: RELAY_ID,
      KOFN_TOKEN_PUBLIC_JWK: jwk,
      KOFN_COORDINATOR: '',
      KOFN_LOG_LEVEL: 'warn'
    },
    stdio: ['ignore', 'pipe', 'inherit']
  });
  const url = await new Promise<string>((res) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { event: string; url: string };
      if (msg.event === 'listening') res(msg.url);
    });
  });
  return { child, url };
}

function stopRelay(child: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((res) => {
    child.once('exit', () => res());
    child.kill('SIGTERM');
  });
}

let { child, url } = await startRelay();

try {
  const rows: string[] = [];
  for (const concurrency of [1, 16]) {
    const put: number[] = [];
    const get: number[] = [];
    const fsw: number[] = [];
    const fsr: number[] = [];
    for (let round = 0; round < 3; round++) {
      const fid = newFileId();
      const bodies = Array.from({ length: PER_ROUND }, (_, i) => shareChunk(fid, i + 1, CHUNK_BODY, i & 0xff));
      const bytes = bodies.reduce((s, b) => s + b.length, 0);
      const putToken = await signer.mint({ fid, op: 'put', chunks: [1, PER_ROUND], max: CHUNK_BODY + 100 });
      const getToken = await signer.mint({ fid, op: 'get', chunks: [1, PER_ROUND] });

      let t = performance.now();
      await pool([...bodies.keys()], concurrency, async (i) => {
        const r = await fetch(`${url}/v1/files/${fid}/chunks/${i + 1}`, { method: 'PUT', body: bodies[i], headers: { Authorization: `Bearer ${putToken}` } });
        if (r.status !== 201) throw new Error(`PUT ${r.status}`);
        await r.arrayBuffer();
      });
      put.push(bytes / 1e6 / ((performance.now() - t) / 1000));

      t = performance.now();
      await pool([...bodies.keys()], concurrency, async (i) => {
        const r = await fetch(`${url}/v1/files/${fid}/chunks/${i + 1}`, { headers: { Authorization: `Bearer ${getToken}` } });
        if ((await r.arrayBuffer()).byteLength !== bodies[i]!.length) throw new Error('short GET');
      });
      get.push(bytes / 1e6 / ((performance.now() - t) / 1000));

      const dir = join(fsDir, fid);
      await mkdir(dir);
      t = performance.now();
      await pool([...bodies.keys()], concurrency, async (i) => {
        const tmp = join(dir, `${i}.tmp`);
        const fh = await open(tmp, 'w');
        await fh.write(bodies[i]!);
        await fh.sync();
        await fh.close();
        await rename(tmp, join(dir, String(i)));
      });
      fsw.push(bytes / 1e6 / ((performance.now() - t) / 1000));

      t = performance.now();
      await pool([...bodies.keys()], concurrency, async (i) => {
        await readFile(join(dir, String(i)));
      });
      fsr.push(bytes / 1e6 / ((performance.now() - t) / 1000));
    }
    rows.push(
      `  ${String(concurrency).padStart(2)} concurrent: PUT ${fmt(median(put))} MB/s vs fs write ${fmt(median(fsw))} MB/s (ratio ${(median(put) / median(fsw)).toFixed(2)}); ` +
        `GET ${fmt(median(get))} MB/s vs fs read ${fmt(median(fsr))} MB/s (ratio ${(median(get) / median(fsr)).toFixed(2)})`
    );
  }

  // Peak RSS with 32 uploads in flight at once, in a fresh relay process so the peak is this phase's.
  await stopRelay(child);
  ({ child, url } = await startRelay());
  const fid = newFileId();
  const token = await signer.mint({ fid, op: 'put', chunks: [1, 32], max: CHUNK_BODY + 100 });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the relay process did not start');
  const before = vmHwmMB(pid);
  await Promise.all(
    Array.from({ length: 32 }, async (_, i) => {
      const r = await fetch(`${url}/v1/files/${fid}/chunks/${i + 1}`, { method: 'PUT', body: shareChunk(fid, i + 1, CHUNK_BODY), headers: { Authorization: `Bearer ${token}` } });
      await r.arrayBuffer();
    })
  );
  const peak = vmHwmMB(pid);

  console.log('kofn relay benchmark: 4 MiB share chunks over loopback, disk backend (medians of 3 rounds of 48 chunks; MB = 10^6 bytes)');
  for (const r of rows) console.log(r);
  console.log(`  relay peak RSS (VmHWM) after 32 concurrent 4 MiB uploads: ${peak.toFixed(1)} MB (before: ${before.toFixed(1)} MB); target < 150 MB: ${peak < 150 ? 'met' : 'NOT met'}`);
} finally {
  await stopRelay(child);
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(fsDir, { recursive: true, force: true });
}
