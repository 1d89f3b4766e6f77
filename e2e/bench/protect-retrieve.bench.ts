/**
 * `npm run bench:e2e`: in headless Chromium, protect and retrieve a file with (3,5) on 5 local relays
 * through the UI, for 256 MiB and 1 GiB, and print plaintext throughput and the browser's memory next to a
 * baseline measured in the same run: the same browser, from a worker under the same service worker as the
 * app's share workers, PUTting the same number of bytes (n x size, in 1 MiB bodies, 4 chunks x n relays in
 * flight, as the app) to the same relays without splitting, then GETting k shares' worth (8 chunks in
 * flight, as the app).
 *
 * Browser memory is the sum of every Chromium process's PSS, sampled every 100 ms. An idle headless
 * Chromium with the app open already uses about 400 MB of it, so the figure held against the target is
 * the growth: peak during the phase minus the same browser's idle figure just before it. MB = 10^6 bytes
 * for throughput, 2^20 for memory. One run per size (each is long).
 */
import { chromium, test, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ADMIN } from '../fixtures.js';
import { startStack } from '../stack.js';

const MiB = 1024 * 1024;
const sizes = (process.env.KOFN_BENCH_SIZES ?? '256,1024').split(',').map((s) => Number(s) * MiB);
const TARGET_RATIO = 0.8;
const TARGET_GROWTH_MB = 300;

/** Chromium's processes' PSS in MB by process type (browser, renderer, gpu-process, utility:Network...). */
function chromiumPssByType(): Record<string, number> {
  const by: Record<string, number> = {};
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('chromium')) continue;
      const sub = /--utility-sub-type=[\w.]*\.(\w+)/.exec(cmd)?.[1];
      const type = (/--type=([a-z-]+)/.exec(cmd)?.[1] ?? 'browser') + (sub ? `:${sub}` : '');
      const m = /Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) by[type] = (by[type] ?? 0) + Number(m[1]) / 1024;
    } catch {
      // process ended meanwhile
    }
  }
  return by;
}

const total = (by: Record<string, number>) => Object.values(by).reduce((a, b) => a + b, 0);
const fmtSplit = (by: Record<string, number>) =>
  Object.entries(by)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ');

interface Measured<T> {
  value: T;
  seconds: number;
  idleMB: number;
  peakMB: number;
  /** The per-process split at the peak. */
  split: Record<string, number>;
}

/** Runs `fn` after the browser has settled, sampling memory; idle is measured just before. */
async function measure<T>(page: Page, fn: () => Promise<T>): Promise<Measured<T>> {
  await page.evaluate(() => (globalThis as unknown as { gc: () => void }).gc());
  await page.waitForTimeout(2000);
  const idleMB = total(chromiumPssByType());
  let peakMB = 0;
  let split: Record<string, number> = {};
  const sample = () => {
    const by = chromiumPssByType();
    if (total(by) > peakMB) [peakMB, split] = [total(by), by];
  };
  const timer = setInterval(sample, 100);
  const t = performance.now();
  try {
    const value = await fn();
    const seconds = (performance.now() - t) / 1000;
    sample();
    return { value, seconds, idleMB, peakMB, split };
  } finally {
    clearInterval(timer);
  }
}

const growth = (m: Measured<unknown>) => m.peakMB - m.idleMB;
const mem = (m: Measured<unknown>) => `+${growth(m).toFixed(0)} MB over idle ${m.idleMB.toFixed(0)} (peak ${m.peakMB.toFixed(0)})`;

/** The unsplit baseline, run in a worker of `page` (see the file comment). */
async function baseline(page: Page, size: number, csrf: string): Promise<{ up: number; down: number }> {
  return page.evaluate(
    async ({ size, csrf }) => {
      const json = { 'content-type': 'application/json', 'x-csrf-token': csrf };
      const res = await fetch('/api/files', { method: 'POST', headers: json, body: JSON.stringify({ name: `baseline-${size}-${Date.now()}`, size, type: '', k: 3 }) });
      const r = (await res.json()) as { fileId: string; chunkCount: number; placements: Array<{ url: string; token: string; relayId: string }> };
      const work = `
        const MiB = 1 << 20;
        const body = (fileId, index, len) => {
          const b = new Uint8Array(40 + len);
          b.set([0x4b, 0x4f, 0x46, 0x4e, 1, index === 0 ? 2 : 0, 1, 2]);
          for (let i = 0; i < 16; i++) b[8 + i] = parseInt(fileId.slice(2 * i, 2 * i + 2), 16);
          const dv = new DataView(b.buffer);
          dv.setUint32(24, index);
          dv.setUint32(32, len);
          for (let o = 40; o < b.length; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(b.length, o + 65536)));
          return b;
        };
        onmessage = async ({ data: { op, fileId, chunkCount, placements } }) => {
          const t0 = performance.now();
          const digests = placements.map(() => []);
          const inflight = [];
          for (let i = 0; i <= chunkCount; i++) {
            if (op === 'put') {
              const b = body(fileId, i, i === 0 ? 100 : MiB);
              // The app's request shape: a Blob body with a capability token.
              inflight.push(Promise.all(placements.map(async (p, j) => {
                const put = await fetch(p.url + '/v1/files/' + fileId + '/chunks/' + i, { method: 'PUT', body: new Blob([b]), headers: { Authorization: 'Bearer ' + p.token } });
                digests[j][i] = (await put.json()).digest;
              })));
              if (inflight.length >= 4) await inflight.shift();
            } else {
              inflight.push(Promise.all(placements.slice(0, 3).map(async (p) => (await fetch(p.url + '/v1/files/' + fileId + '/chunks/' + i, { headers: { Authorization: 'Bearer ' + p.token } })).arrayBuffer())));
              if (inflight.length >= 8) await inflight.shift();
            }
          }
          await Promise.all(inflight);
          postMessage({ seconds: (performance.now() - t0) / 1000, digests });
        };`;
      const worker = new Worker(URL.createObjectURL(new Blob([work], { type: 'text/javascript' })));
      const run = (op: string, placements: Array<{ url: string; token: string }>) =>
        new Promise<{ seconds: number; digests: string[][] }>((res) => {
          worker.onmessage = (e) => res(e.data as { seconds: number; digests: string[][] });
          worker.postMessage({ op, fileId: r.fileId, chunkCount: r.chunkCount, placements });
        });
      const up = await run('put', r.placements);
      const roots: Record<string, string> = {};
      for (const [j, p] of r.placements.entries()) {
        const bytes = new Uint8Array(up.digests[j]!.length * 32);
        up.digests[j]!.forEach((d, i) => {
          for (let q = 0; q < 32; q++) bytes[i * 32 + q] = parseInt(d.slice(2 * q, 2 * q + 2), 16);
        });
        roots[p.relayId] = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (x) => x.toString(16).padStart(2, '0')).join('');
      }
      await fetch(`/api/files/${r.fileId}/commit`, { method: 'POST', headers: json, body: JSON.stringify({ roots }) });
      const m = (await (await fetch(`/api/files/${r.fileId}/manifest`)).json()) as { placements: Array<{ url: string; token: string }> };
      const down = await run('get', m.placements);
      worker.terminate();
      return { up: up.seconds, down: down.seconds };
    },
    { size, csrf }
  );
}

/** Waits until the transfer row for `label` (e.g. "Protecting x.bin") has finished; answers its status. */
async function finished(page: Page, label: string): Promise<string> {
  const handle = await page.waitForFunction(
    (l) => [...document.querySelectorAll('[data-testid=transfer]')].find((e) => e.textContent?.includes(l) && e.getAttribute('data-status') !== 'running')?.getAttribute('data-status'),
    label,
    { timeout: 0 }
  );
  return (await handle.jsonValue()) as string;
}

test('protect and retrieve throughput and memory against an unsplit baseline', async () => {
  test.setTimeout(0);
  const stack = await startStack({ relays: 5, tier: 'Pro' });
  // A persistent (on-disk) profile, as a person's browser has: an off-the-record context keeps blob data and
  // the origin-private file system in memory, which would count files' bytes as browser memory.
  const profile = mkdtempSync(join(tmpdir(), 'kofn-bench-profile-'));
  const browser = await chromium.launchPersistentContext(profile, {
    baseURL: stack.url,
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    // --expose-gc: the bench collects garbage between phases so one phase's freed buffers do not count in the next.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--js-flags=--expose-gc']
  });
  const dir = mkdtempSync(join(tmpdir(), 'kofn-bench-e2e-'));
  const lines: string[] = [];
  let met = true;
  try {
    const page = await browser.newPage();
    const setup = await page.request.post('/api/setup', { data: ADMIN, headers: { Origin: stack.url } });
    const { csrfToken } = (await setup.json()) as { csrfToken: string };
    await page.addInitScript(() => {
      (window as unknown as { showSaveFilePicker: unknown }).showSaveFilePicker = async ({ suggestedName }: { suggestedName: string }) =>
        (await navigator.storage.getDirectory()).getFileHandle(suggestedName, { create: true });
    });
    await page.goto('/');
    // The baseline's page: a same-origin document in the share workers' scope (the worker script itself),
    // so its worker is under the same service worker as the app's share workers.
    const workers = resolve(import.meta.dirname, '../../web/build/client/_app/immutable/workers');
    const shareWorker = readdirSync(workers).find((f) => /^share\.worker-.*\.js$/.test(f));

    for (const size of sizes) {
      const name = `bench-${size / MiB}MiB.bin`;
      const path = join(dir, name);
      // Random-looking content without 1 GiB of CSPRNG output: a 1 MiB random block repeated.
      const block = execFileSync('head', ['-c', String(MiB), '/dev/urandom']);
      writeFileSync(path, Buffer.alloc(0));
      for (let off = 0; off < size; off += MiB) writeFileSync(path, block.subarray(0, Math.min(MiB, size - off)), { flag: 'a' });

      const boxes = page.locator('.relay-choice input[type=checkbox]');
      for (let i = 0; i < (await boxes.count()); i++) await boxes.nth(i).setChecked(true);
      await page.getByTestId('threshold').fill('3');
      const protect = await measure(page, async () => {
        await page.getByTestId('file-input').setInputFiles(path);
        return finished(page, `Protecting ${name}`);
      });
      const retrieve = await measure(page, async () => {
        await page.getByRole('button', { name: `Retrieve ${name}`, exact: true }).click();
        return finished(page, `Retrieving ${name}`);
      });
      // Opened only now and closed after: a tab in the background gets throttled timers and no animation
      // frames, which would slow the app's page (and Playwright's clicks on it) in the next round.
      const basePage = await browser.newPage();
      await basePage.goto(`/_app/immutable/workers/${shareWorker}`);
      const base = await measure(basePage, () => baseline(basePage, size, csrfToken));
      await basePage.close();
      await page.bringToFront();
      rmSync(path);

      const mb = size / 1e6;
      const ratios = { protect: base.value.up / protect.seconds, retrieve: base.value.down / retrieve.seconds };
      const ok =
        protect.value === 'done' &&
        retrieve.value === 'done' &&
        ratios.protect >= TARGET_RATIO &&
        ratios.retrieve >= TARGET_RATIO &&
        growth(protect) < TARGET_GROWTH_MB &&
        growth(retrieve) < TARGET_GROWTH_MB;
      met &&= ok;
      lines.push(
        `${size / MiB} MiB (3,5): protect ${(mb / protect.seconds).toFixed(1)} MB/s (${protect.value}), memory ${mem(protect)}; ` +
          `retrieve ${(mb / retrieve.seconds).toFixed(1)} MB/s (${retrieve.value}), memory ${mem(retrieve)}`,
        `    baseline: upload ${(mb / base.value.up).toFixed(1)} MB/s, download ${(mb / base.value.down).toFixed(1)} MB/s (plaintext-equivalent), memory ${mem(base)}`,
        `    ratios: protect ${ratios.protect.toFixed(2)}x, retrieve ${ratios.retrieve.toFixed(2)}x of baseline; targets (>= ${TARGET_RATIO}x, < ${TARGET_GROWTH_MB} MB growth) ${ok ? 'met' : 'NOT met'}`,
        `    at peak: protect ${fmtSplit(protect.split)}; retrieve ${fmtSplit(retrieve.split)}`
      );
    }
    console.log('kofn end-to-end benchmark (headless Chromium, 5 local relays, one run per size)');
    for (const l of lines) console.log(`  ${l}`);
    console.log(`  all targets ${met ? 'met' : 'NOT met'}`);
  } finally {
    await browser.close();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(profile, { recursive: true, force: true });
  }
});
