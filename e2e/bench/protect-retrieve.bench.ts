/**
 * `npm run bench:e2e`: in headless Chromium, protect and retrieve a file with (3,5) on 5 local relays,
 * for 256 MiB and 1 GiB, and print plaintext throughput and the browser's peak memory (sum of Chromium
 * processes' PSS, sampled every 100 ms) next to a baseline measured in the same run: the same page
 * uploading the same number of bytes to the same relays without splitting (n x size, in 1 MiB bodies),
 * and downloading k shares' worth. MB = 10^6 bytes; one run per size (each is long).
 */
import { chromium, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN } from '../fixtures.js';
import { startStack } from '../stack.js';

const MiB = 1024 * 1024;
const sizes = (process.env.KOFN_BENCH_SIZES ?? '256,1024').split(',').map((s) => Number(s) * MiB);

/** Browser memory: the sum of Chromium processes' PSS (shared pages counted once, proportionally). */
function chromiumRssMB(): number {
  let total = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('chromium')) continue;
      const m = /Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) total += Number(m[1]) / 1024;
    } catch {
      // process ended meanwhile
    }
  }
  return total;
}

async function peakDuring<T>(fn: () => Promise<T>): Promise<{ value: T; peakMB: number; seconds: number }> {
  let peak = chromiumRssMB();
  const timer = setInterval(() => (peak = Math.max(peak, chromiumRssMB())), 100);
  const t = performance.now();
  try {
    const value = await fn();
    return { value, peakMB: Math.max(peak, chromiumRssMB()), seconds: (performance.now() - t) / 1000 };
  } finally {
    clearInterval(timer);
  }
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
try {
  const page = await browser.newPage();
  const setup = await page.request.post('/api/setup', { data: ADMIN, headers: { Origin: stack.url } });
  const { csrfToken } = (await setup.json()) as { csrfToken: string };
  await page.addInitScript(() => {
    (window as unknown as { showSaveFilePicker: unknown }).showSaveFilePicker = async ({ suggestedName }: { suggestedName: string }) =>
      (await navigator.storage.getDirectory()).getFileHandle(suggestedName, { create: true });
  });
  await page.goto('/');
  const lines: string[] = [];
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
    const protect = await peakDuring(async () => {
      await page.getByTestId('file-input').setInputFiles(path);
      await page.getByTestId('transfer').filter({ hasText: `Protecting ${name}` }).first().waitFor();
      await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid=transfer]')].some((e) => e.textContent?.includes(`Protecting ${n}`) && e.getAttribute('data-status') !== 'running'), name, { timeout: 0 });
    });
    await page.evaluate(() => (globalThis as unknown as { gc: () => void }).gc());
    const retrieve = await peakDuring(async () => {
      await page.getByRole('button', { name: `Retrieve ${name}`, exact: true }).click();
      await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid=transfer]')].some((e) => e.textContent?.includes(`Retrieving ${n}`) && e.getAttribute('data-status') !== 'running'), name, { timeout: 0 });
    });
    const statuses = await page.getByTestId('transfer').evaluateAll((els) => els.map((e) => e.getAttribute('data-status')));
    console.log(`  ${size / MiB} MiB: protect ${((size / 1e6) / protect.seconds).toFixed(1)} MB/s (peak ${protect.peakMB.toFixed(0)} MB), retrieve ${((size / 1e6) / retrieve.seconds).toFixed(1)} MB/s (peak ${retrieve.peakMB.toFixed(0)} MB), statuses ${statuses.join(',')}`);

    // Baseline: the same page PUTs n x size bytes (1 MiB share-chunk bodies of random bytes, no
    // splitting) to the same relays with real tokens, commits them, then GETs k shares' worth.
    await page.evaluate(() => (globalThis as unknown as { gc: () => void }).gc());
    const baseline = await peakDuring(() =>
      page.evaluate(
        async ({ size, csrf }) => {
          const json = { 'content-type': 'application/json', 'x-csrf-token': csrf };
          const res = await fetch('/api/files', { method: 'POST', headers: json, body: JSON.stringify({ name: `baseline-${size}-${Date.now()}`, size, type: '', k: 3 }) });
          const r = (await res.json()) as { fileId: string; chunkCount: number; placements: Array<{ url: string; token: string; relayId: string }> };
          const MiB = 1024 * 1024;
          const body = (index: number, len: number) => {
            const b = new Uint8Array(40 + len);
            b.set([0x4b, 0x4f, 0x46, 0x4e, 1, index === 0 ? 2 : 0, 1, 2]);
            for (let i = 0; i < 16; i++) b[8 + i] = parseInt(r.fileId.slice(2 * i, 2 * i + 2), 16);
            const dv = new DataView(b.buffer);
            dv.setUint32(24, index);
            dv.setUint32(32, len);
            for (let o = 40; o < b.length; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(b.length, o + 65536)));
            return b;
          };
          const digests = r.placements.map(() => [] as string[]);
          const t0 = performance.now();
          const inflight: Promise<unknown>[] = [];
          for (let i = 0; i <= r.chunkCount; i++) {
            const b = body(i, i === 0 ? 100 : MiB);
            inflight.push(
              Promise.all(
                r.placements.map(async (p, j) => {
                  // The same upload path as the app (a Blob body), without splitting.
                  const put = await fetch(`${p.url}/v1/files/${r.fileId}/chunks/${i}`, { method: 'PUT', body: new Blob([b]), headers: { Authorization: `Bearer ${p.token}` } });
                  digests[j]![i] = ((await put.json()) as { digest: string }).digest;
                })
              )
            );
            if (inflight.length >= 4) await inflight.shift();
          }
          await Promise.all(inflight);
          const up = (performance.now() - t0) / 1000;
          const roots: Record<string, string> = {};
          for (const [j, p] of r.placements.entries()) {
            const bytes = new Uint8Array(digests[j]!.length * 32);
            digests[j]!.forEach((d, i) => {
              for (let q = 0; q < 32; q++) bytes[i * 32 + q] = parseInt(d.slice(2 * q, 2 * q + 2), 16);
            });
            roots[p.relayId] = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (x) => x.toString(16).padStart(2, '0')).join('');
          }
          await fetch(`/api/files/${r.fileId}/commit`, { method: 'POST', headers: json, body: JSON.stringify({ roots }) });
          const m = (await (await fetch(`/api/files/${r.fileId}/manifest`)).json()) as { placements: Array<{ url: string; token: string }> };
          const t1 = performance.now();
          const gets: Promise<unknown>[] = [];
          for (let i = 0; i <= r.chunkCount; i++) {
            gets.push(Promise.all(m.placements.slice(0, 3).map(async (p) => (await fetch(`${p.url}/v1/files/${r.fileId}/chunks/${i}`, { headers: { Authorization: `Bearer ${p.token}` } })).arrayBuffer())));
            if (gets.length >= 4) await gets.shift();
          }
          await Promise.all(gets);
          return { up, down: (performance.now() - t1) / 1000 };
        },
        { size, csrf: csrfToken }
      )
    );
    const mb = size / 1e6;
    lines.push(
      `${size / MiB} MiB (3,5): protect ${(mb / protect.seconds).toFixed(1)} MB/s, peak browser PSS ${protect.peakMB.toFixed(0)} MB; ` +
        `retrieve ${(mb / retrieve.seconds).toFixed(1)} MB/s, peak ${retrieve.peakMB.toFixed(0)} MB; ` +
        `baseline: upload ${(mb / baseline.value.up).toFixed(1)} MB/s, download ${(mb / baseline.value.down).toFixed(1)} MB/s (plaintext-equivalent, peak ${baseline.peakMB.toFixed(0)} MB); ` +
        `ratios protect ${(baseline.value.up / protect.seconds).toFixed(2)}x, retrieve ${(baseline.value.down / retrieve.seconds).toFixed(2)}x of baseline; statuses ${statuses.join(',')}`
    );
    rmSync(path);
  }
  console.log('kofn end-to-end benchmark (headless Chromium, 5 local relays, one run per size)');
  for (const l of lines) console.log(`  ${l}`);
} finally {
  await browser.close();
  await stack.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(profile, { recursive: true, force: true });
}
});
