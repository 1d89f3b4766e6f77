/**
 * `npm run bench:e2e`: in headless Chromium, protect and retrieve a file with (3,5) on 5 local relays
 * through the UI, for 256 MiB and 1 GiB, and print plaintext throughput and the browser's memory next to a
 * baseline measured in the same run: the same browser, from a worker under the same service worker as the
 * app's share workers, PUTting the same number of bytes (n x size, in 1 MiB bodies, 4 chunks x n relays in
 * flight, as the app) to the same relays without splitting, then GETting k shares' worth (8 chunks in
 * flight, as the app) and saving a file's worth of them, in order, where the app saves its file (OPFS).
 * (Until session 18 the baseline's download saved nothing, so the app's file writing, 1.6-2.7 CPU-seconds of
 * the browser process at 256 MiB, counted against it alone.)
 *
 * Browser memory is the sum of every Chromium process's PSS, sampled every 500 ms. An idle headless
 * Chromium with the app open already uses about 400 MB of it, so the figure held against the target is
 * the growth: peak during the phase minus the same browser's idle figure just before it. MB = 10^6 bytes
 * for throughput, 2^20 for memory. Each size runs KOFN_BENCH_ROUNDS rounds (default 3; see ROUNDS). Each phase also prints the CPU seconds
 * every process type spent (relays included): the machine is CPU-bound, so that is where a gap shows.
 *
 * Retrieved files are written to the origin-private file system, standing in for the file the save picker
 * would give (no automation can answer that picker). KOFN_BENCH_NULL_SINK=1 discards them instead, to
 * measure what the write costs; such a run is a diagnostic and is not judged against the targets.
 *
 * Compact mode (issue #23, shared/docs/compact-mode.md): unless KOFN_BENCH_COMPACT=0, each round also
 * protects and retrieves the same bytes as a compact file (AES-256-GCM + Reed-Solomon, n/k stored) right
 * after the Shamir phases, and prints its user-data MB/s, its ratio to the same baseline and its speed-up
 * over Shamir in the same round. The targets above stay judged on Shamir mode only; compact figures are
 * reported (issue #23 asks >= 30 MB/s of user data each way).
 *
 * Two-level sharing (issue #21, shared/docs/multilevel.md): a second test starts 9 relays in three labelled
 * groups and protects and retrieves KOFN_BENCH_TWO_LEVEL_MIB (256 by default) with the preset "3 groups,
 * any 2; 2 of 3 storage servers in each", against the same baseline moving the same bytes (9 sub-shares'
 * worth up, K x k_g = 4 down). Target: median ratio >= 0.6x both ways, memory growth < 300 MB.
 */
import { chromium, test, type Page } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { linkSync, readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ADMIN } from '../fixtures.js';
import { startStack, type RunningStack } from '../stack.js';

const MiB = 1024 * 1024;
const sizes = (process.env.KOFN_BENCH_SIZES ?? '256,1024').split(',').map((s) => Number(s) * MiB);
/**
 * Rounds per size. Each round pairs the app's phases with the baseline's, the app first in odd rounds and
 * the baseline first in even ones; on this 2-core machine the same code's ratio has ranged 0.65-1.03x
 * between single rounds, so targets are judged on the median round's ratio (and on the largest memory
 * growth of any round).
 */
const ROUNDS = Number(process.env.KOFN_BENCH_ROUNDS ?? 3);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const TARGET_RATIO = 0.8;
const TARGET_GROWTH_MB = 300;
/**
 * Memory sampling period. Reading every Chromium process's smaps_rollup costs this process CPU, mostly in
 * the kernel walking page tables (measured with perf: about 2 CPU-seconds in a 12 s phase at 100 and at
 * 250 ms), which on 2 cores slows what is measured; memory here moves over seconds, not milliseconds.
 */
const SAMPLE_MS = 500;
/** Compact mode's phases run in every round unless KOFN_BENCH_COMPACT=0 (issue #23). */
const COMPACT = process.env.KOFN_BENCH_COMPACT !== '0';

/** The processes measured, by pid, with their type: Chromium's (browser, renderer, gpu-process, utility:Network...) and the relays. */
function measuredProcesses(relayPids: number[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const pid of readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (relayPids.includes(pid)) out.set(pid, 'relays');
      else if (cmd.includes('chromium')) {
        const sub = /--utility-sub-type=[\w.]*\.(\w+)/.exec(cmd)?.[1];
        out.set(pid, (/--type=([a-z-]+)/.exec(cmd)?.[1] ?? 'browser') + (sub ? `:${sub}` : ''));
      }
    } catch {
      // process ended meanwhile
    }
  }
  return out;
}

/** Chromium's processes' PSS in MB by process type. */
function chromiumPssByType(): Record<string, number> {
  const by: Record<string, number> = {};
  for (const [pid, type] of measuredProcesses([])) {
    try {
      const m = /Pss:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      if (m) by[type] = (by[type] ?? 0) + Number(m[1]) / 1024;
    } catch {
      // process ended meanwhile
    }
  }
  return by;
}

/** CPU ticks (1/100 s) used so far by each Chromium process and each relay, keyed by pid, with its type. */
function cpuTicks(relayPids: number[]): Map<number, { type: string; ticks: number }> {
  const out = new Map<number, { type: string; ticks: number }>();
  for (const [pid, type] of measuredProcesses(relayPids)) {
    try {
      // Fields after the command name's closing parenthesis: utime and stime are the 12th and 13th.
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(pid, { type, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // process ended meanwhile
    }
  }
  return out;
}

/** CPU seconds by process type between two cpuTicks readings (processes that ended meanwhile are missed). */
function cpuSpent(before: ReturnType<typeof cpuTicks>, after: ReturnType<typeof cpuTicks>): Record<string, number> {
  const by: Record<string, number> = {};
  for (const [pid, a] of after) by[a.type] = (by[a.type] ?? 0) + (a.ticks - (before.get(pid)?.ticks ?? 0)) / 100;
  return by;
}

let relayPids: number[] = [];

const total = (by: Record<string, number>) => Object.values(by).reduce((a, b) => a + b, 0);
const fmtSplit = (by: Record<string, number>) =>
  Object.entries(by)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ');

const fmtCpu = (by: Record<string, number>) =>
  `${total(by).toFixed(1)} (` +
  Object.entries(by)
    .filter(([, v]) => v >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ') +
  ')';

interface Measured<T> {
  value: T;
  seconds: number;
  idleMB: number;
  peakMB: number;
  /** The per-process split at the peak. */
  split: Record<string, number>;
  /** CPU seconds by process type during the phase. */
  cpu: Record<string, number>;
}

/** Runs `fn` after the browser has settled, sampling memory; idle is measured just before. */
async function measure<T>(page: Page, fn: () => Promise<T>): Promise<Measured<T>> {
  // The relays' (and the retrieved file's) writes from earlier phases go to disk now, not as the kernel's
  // writeback in the middle of this phase, taking CPU from whichever side happens to run then.
  execFileSync('sync');
  await page.evaluate(() => (globalThis as unknown as { gc: () => void }).gc());
  await page.waitForTimeout(2000);
  const idleMB = total(chromiumPssByType());
  let peakMB = 0;
  let split: Record<string, number> = {};
  const sample = () => {
    const by = chromiumPssByType();
    if (total(by) > peakMB) [peakMB, split] = [total(by), by];
  };
  const timer = setInterval(sample, SAMPLE_MS);
  const t = performance.now();
  const cpu0 = cpuTicks(relayPids);
  try {
    const value = await fn();
    const seconds = (performance.now() - t) / 1000;
    const cpu = cpuSpent(cpu0, cpuTicks(relayPids));
    sample();
    return { value, seconds, idleMB, peakMB, split, cpu };
  } finally {
    clearInterval(timer);
  }
}

const growth = (m: Measured<unknown>) => m.peakMB - m.idleMB;
const mem = (m: Measured<unknown>) => `+${growth(m).toFixed(0)} MB over idle ${m.idleMB.toFixed(0)} (peak ${m.peakMB.toFixed(0)})`;

interface BaselineState {
  worker: Worker;
  fileId: string;
  chunkCount: number;
  json: Record<string, string>;
  digests: string[][];
  placements: Array<{ url: string; token: string; relayId: string }>;
  /** Shares read back per chunk. */
  k: number;
}

/** The unsplit baseline's upload, run in a worker of `page` (see the file comment); answers its seconds. */
async function baselineUp(page: Page, size: number, csrf: string, k = 3): Promise<number> {
  return page.evaluate(
    async ({ size, csrf, k }) => {
      const json = { 'content-type': 'application/json', 'x-csrf-token': csrf };
      // Every relay of the stack (n of them) and k to read back: the bytes the app moves up and down.
      const res = await fetch('/api/files', { method: 'POST', headers: json, body: JSON.stringify({ name: `baseline-${size}-${Date.now()}`, size, type: '', k }) });
      if (!res.ok) throw new Error(`baseline reservation answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
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
        // A failed request is posted back as an error: thrown inside an async handler it would be lost, and
        // the page waiting on this worker would wait forever.
        const ok = async (res, what) => {
          if (!res.ok) throw new Error(what + ' answered ' + res.status + ': ' + (await res.text()).slice(0, 300));
          return res;
        };
        onmessage = async (e) => {
          try {
            await run(e.data);
          } catch (err) {
            postMessage({ error: String(err) });
          }
        };
        const run = async ({ op, fileId, chunkCount, placements, k, save }) => {
          const t0 = performance.now();
          const digests = placements.map(() => []);
          const inflight = [];
          // A download saves what it downloads, as the app's retrieve does (to the origin-private file
          // system, as the bench's stand-in for the save picker): a file's worth of bytes, written in order.
          const dir = save ? await navigator.storage.getDirectory() : null;
          const file = dir ? await (await dir.getFileHandle('baseline-download-' + fileId + '.bin', { create: true })).createWritable() : null;
          const saveOldest = async () => {
            const shares = await inflight.shift();
            if (file && shares.index > 0) await file.write(new Uint8Array(shares.parts[0], 40, MiB));
          };
          for (let i = 0; i <= chunkCount; i++) {
            if (op === 'put') {
              // Records as the app stores them (shared/src/share-sizes.ts, which the commit checks): a
              // metadata record in chunk 0, data + a 16-byte tag in the others.
              const b = body(fileId, i, i === 0 ? 100 : MiB + 16);
              // The app's request shape: a Blob body with a capability token.
              inflight.push(Promise.all(placements.map(async (p, j) => {
                const put = await ok(await fetch(p.url + '/v1/files/' + fileId + '/chunks/' + i, { method: 'PUT', body: new Blob([b]), headers: { Authorization: 'Bearer ' + p.token } }), 'PUT ' + i);
                digests[j][i] = (await put.json()).digest;
              })));
              if (inflight.length >= 4) await inflight.shift();
            } else {
              const index = i;
              inflight.push(Promise.all(placements.slice(0, k).map(async (p) => (await ok(await fetch(p.url + '/v1/files/' + fileId + '/chunks/' + index, { headers: { Authorization: 'Bearer ' + p.token } }), 'GET ' + index)).arrayBuffer())).then((parts) => ({ index, parts })));
              if (inflight.length >= 8) await saveOldest();
            }
          }
          if (op === 'put') await Promise.all(inflight);
          else while (inflight.length > 0) await saveOldest();
          if (file) {
            await file.close();
            await dir.removeEntry('baseline-download-' + fileId + '.bin');
          }
          postMessage({ seconds: (performance.now() - t0) / 1000, digests });
        };`;
      const worker = new Worker(URL.createObjectURL(new Blob([work], { type: 'text/javascript' })));
      const up = await new Promise<{ seconds: number; digests: string[][] }>((res, rej) => {
        worker.onmessage = (e) => {
          const d = e.data as { seconds: number; digests: string[][]; error?: string };
          if (d.error) rej(new Error(`baseline upload: ${d.error}`));
          else res(d);
        };
        worker.onerror = (e) => rej(new Error(`baseline worker: ${e.message}`));
        worker.postMessage({ op: 'put', fileId: r.fileId, chunkCount: r.chunkCount, placements: r.placements });
      });
      (globalThis as unknown as { kofnBaseline: BaselineState }).kofnBaseline = { worker, ...r, json, digests: up.digests, k };
      return up.seconds;
    },
    { size, csrf, k }
  );
}

/**
 * The baseline's download of k shares' worth (baselineUp's k), after baselineUp in the same page, saving a
 * file's worth of the bytes to the origin-private file system as it goes when `save` (the app's retrieve
 * saves its file there: comparing a download that saves nothing with one that saves the file put the
 * browser process's file writing on the app's side only); answers its seconds.
 */
async function baselineDown(page: Page, save: boolean): Promise<number> {
  return page.evaluate(async (save) => {
    const s = (globalThis as unknown as { kofnBaseline: BaselineState }).kofnBaseline;
    const roots: Record<string, string> = {};
    for (const [j, p] of s.placements.entries()) {
      const bytes = new Uint8Array(s.digests[j]!.length * 32);
      s.digests[j]!.forEach((d, i) => {
        for (let q = 0; q < 32; q++) bytes[i * 32 + q] = parseInt(d.slice(2 * q, 2 * q + 2), 16);
      });
      roots[p.relayId] = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (x) => x.toString(16).padStart(2, '0')).join('');
    }
    const ok = async (res: Response, what: string) => {
      if (!res.ok) throw new Error(`${what} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
      return res;
    };
    await ok(await fetch(`/api/files/${s.fileId}/commit`, { method: 'POST', headers: s.json, body: JSON.stringify({ roots }) }), 'baseline commit');
    const m = (await (await ok(await fetch(`/api/files/${s.fileId}/manifest`), 'baseline manifest')).json()) as { placements: Array<{ url: string; token: string }> };
    const down = await new Promise<{ seconds: number }>((res, rej) => {
      s.worker.onmessage = (e) => {
        const d = e.data as { seconds: number; error?: string };
        if (d.error) rej(new Error(`baseline download: ${d.error}`));
        else res(d);
      };
      s.worker.onerror = (e) => rej(new Error(`baseline worker: ${e.message}`));
      s.worker.postMessage({ op: 'get', fileId: s.fileId, chunkCount: s.chunkCount, placements: m.placements, k: s.k, save });
    });
    s.worker.terminate();
    return down.seconds;
  }, save);
}

/**
 * Waits until the transfer row for `label` (e.g. "Protecting x.bin") has finished; answers its status. A
 * MutationObserver on the rows' status, not waitForFunction: its default polls every animation frame, which
 * costs the app's page CPU that the baseline's page (awaiting one promise) does not pay.
 */
async function finished(page: Page, label: string): Promise<string> {
  return page.evaluate(
    (l) =>
      new Promise<string>((resolve) => {
        const check = () => {
          const row = [...document.querySelectorAll('[data-testid=transfer]')].find((e) => e.textContent.includes(l) && e.getAttribute('data-status') !== 'running');
          if (!row) return;
          observer.disconnect();
          resolve(row.getAttribute('data-status')!);
        };
        const observer = new MutationObserver(check);
        observer.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
        check();
      }),
    label
  );
}

/**
 * A persistent (on-disk) profile, as a person's browser has: an off-the-record context keeps blob data and
 * the origin-private file system in memory, which would count files' bytes as browser memory. Sets the stack
 * up (its administrator), stands a save picker in (OPFS, or nothing with `nullSink`) and opens the app.
 */
async function openBench(stack: RunningStack, nullSink: boolean) {
  const profile = mkdtempSync(join(tmpdir(), 'kofn-bench-profile-'));
  const browser = await chromium.launchPersistentContext(profile, {
    baseURL: stack.url,
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    // --expose-gc: the bench collects garbage between phases so one phase's freed buffers do not count in the next.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--js-flags=--expose-gc']
  });
  const page = await browser.newPage();
  const setup = await page.request.post('/api/setup', { data: ADMIN, headers: { Origin: stack.url } });
  const { csrfToken } = (await setup.json()) as { csrfToken: string };
  await page.addInitScript((nullSink) => {
    (window as unknown as { showSaveFilePicker: unknown }).showSaveFilePicker = async ({ suggestedName }: { suggestedName: string }) =>
      nullSink
        ? { createWritable: async () => ({ write: async () => undefined, close: async () => undefined, abort: async () => undefined }) }
        : (await navigator.storage.getDirectory()).getFileHandle(suggestedName, { create: true });
  }, nullSink);
  await page.goto('/');
  // The baseline's page: a same-origin document in the share workers' scope (the worker script itself),
  // so its worker is under the same service worker as the app's share workers.
  const workers = resolve(import.meta.dirname, '../../web/build/client/_app/immutable/workers');
  const shareWorker = readdirSync(workers).find((f) => /^share\.worker-.*\.js$/.test(f));
  const close = async () => {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { browser, page, csrfToken, shareWorker, close };
}

/** A source file of `size` bytes in `dir`: random-looking content without 1 GiB of CSPRNG output (a 1 MiB random block repeated). */
function sourceFile(dir: string, size: number): string {
  const source = join(dir, `source-${size / MiB}MiB.bin`);
  const block = execFileSync('head', ['-c', String(MiB), '/dev/urandom']);
  writeFileSync(source, Buffer.alloc(0));
  for (let off = 0; off < size; off += MiB) writeFileSync(source, block.subarray(0, Math.min(MiB, size - off)), { flag: 'a' });
  return source;
}

test('protect and retrieve throughput and memory against an unsplit baseline', async () => {
  test.setTimeout(0);
  const stack = await startStack({ relays: 5, tier: 'Pro' });
  relayPids = stack.relayProcs.map((r) => r.pid);
  const dir = mkdtempSync(join(tmpdir(), 'kofn-bench-e2e-'));
  const lines: string[] = [];
  const nullSink = process.env.KOFN_BENCH_NULL_SINK === '1';
  let met = true;
  const opened = await openBench(stack, nullSink);
  const { browser, page, csrfToken, shareWorker } = opened;
  try {
    for (const size of sizes) {
      const source = sourceFile(dir, size);
      const mb = size / 1e6;
      const ratios: Array<{ protect: number; retrieve: number }> = [];
      const growths: number[] = [];
      // Compact mode (issue #23): user-data MB/s, ratio to the baseline and speed-up over Shamir, per round.
      const compactRounds: Array<{ protect: number; retrieve: number; ratio: { protect: number; retrieve: number }; overShamir: { protect: number; retrieve: number } }> = [];
      let allDone = true;

      for (let round = 1; round <= ROUNDS; round++) {
        // Each round protects a file of its own name (a hard link to the same bytes).
        const nameOf = (mode: 'shamir' | 'compact') => `bench-${mode === 'compact' ? 'compact-' : ''}${size / MiB}MiB-${round}.bin`;
        const name = nameOf('shamir');
        const path = join(dir, name);
        linkSync(source, path);
        const app = async (mode: 'shamir' | 'compact' = 'shamir') => {
          const name = nameOf(mode);
          const path = join(dir, name);
          if (mode === 'compact') linkSync(source, path);
          const boxes = page.locator('.relay-choice input[type=checkbox]');
          for (let i = 0; i < (await boxes.count()); i++) await boxes.nth(i).setChecked(true);
          await page.getByTestId('threshold').fill('3');
          await page.getByTestId(mode === 'compact' ? 'mode-compact' : 'mode-shamir').check();
          const protect = await measure(page, async () => {
            await page.getByTestId('file-input').setInputFiles(path);
            return finished(page, `Protecting ${name}`);
          });
          const retrieve = await measure(page, async () => {
            await page.getByRole('button', { name: `Retrieve ${name}`, exact: true }).click();
            return finished(page, `Retrieving ${name}`);
          });
          if (mode === 'compact') rmSync(path);
          return { protect, retrieve };
        };
        const baseline = async () => {
          // Opened only now and closed after: a tab in the background gets throttled timers and no animation
          // frames, which would slow the app's page (and Playwright's clicks on it) in the next phase.
          const basePage = await browser.newPage();
          await basePage.goto(`/_app/immutable/workers/${shareWorker}`);
          const up = await measure(basePage, () => baselineUp(basePage, size, csrfToken));
          const down = await measure(basePage, () => baselineDown(basePage, !nullSink));
          await basePage.close();
          await page.bringToFront();
          return { up, down };
        };
        // Odd rounds run the app first, even rounds the baseline first, so a machine that drifts slower or
        // faster over a round does not favour the side that always comes first.
        let a: Awaited<ReturnType<typeof app>>, b: Awaited<ReturnType<typeof baseline>>;
        let c: Awaited<ReturnType<typeof app>> | undefined;
        if (round % 2 === 1) {
          a = await app();
          if (COMPACT) c = await app('compact');
          b = await baseline();
        } else {
          b = await baseline();
          if (COMPACT) c = await app('compact');
          a = await app();
        }
        const { protect, retrieve } = a;
        const { up: baseUp, down: baseDown } = b;
        rmSync(path);

        const r = { protect: baseUp.value / protect.seconds, retrieve: baseDown.value / retrieve.seconds };
        ratios.push(r);
        growths.push(growth(protect), growth(retrieve));
        allDone &&= protect.value === 'done' && retrieve.value === 'done';
        lines.push(
          `${size / MiB} MiB (3,5), round ${round}: protect ${(mb / protect.seconds).toFixed(1)} MB/s (${protect.value}), memory ${mem(protect)}; ` +
            `retrieve ${(mb / retrieve.seconds).toFixed(1)} MB/s (${retrieve.value}), memory ${mem(retrieve)}`,
          `    baseline: upload ${(mb / baseUp.value).toFixed(1)} MB/s, memory ${mem(baseUp)}; download ${(mb / baseDown.value).toFixed(1)} MB/s (plaintext-equivalent), memory ${mem(baseDown)}`,
          `    ratios: protect ${r.protect.toFixed(2)}x, retrieve ${r.retrieve.toFixed(2)}x of baseline`,
          `    at peak: protect ${fmtSplit(protect.split)}; retrieve ${fmtSplit(retrieve.split)}`,
          `    CPU seconds: protect ${fmtCpu(protect.cpu)}, baseline upload ${fmtCpu(baseUp.cpu)}`,
          `                 retrieve ${fmtCpu(retrieve.cpu)}, baseline download ${fmtCpu(baseDown.cpu)}`
        );
        if (c) {
          const cr = {
            protect: mb / c.protect.seconds,
            retrieve: mb / c.retrieve.seconds,
            ratio: { protect: baseUp.value / c.protect.seconds, retrieve: baseDown.value / c.retrieve.seconds },
            overShamir: { protect: protect.seconds / c.protect.seconds, retrieve: retrieve.seconds / c.retrieve.seconds }
          };
          compactRounds.push(cr);
          allDone &&= c.protect.value === 'done' && c.retrieve.value === 'done';
          lines.push(
            `    compact mode: protect ${cr.protect.toFixed(1)} MB/s (${c.protect.value}), memory ${mem(c.protect)}; retrieve ${cr.retrieve.toFixed(1)} MB/s (${c.retrieve.value}), memory ${mem(c.retrieve)}`,
            `    compact ratios: protect ${cr.ratio.protect.toFixed(2)}x, retrieve ${cr.ratio.retrieve.toFixed(2)}x of baseline; ${cr.overShamir.protect.toFixed(2)}x, ${cr.overShamir.retrieve.toFixed(2)}x of Shamir's speed`,
            `    compact CPU seconds: protect ${fmtCpu(c.protect.cpu)}, retrieve ${fmtCpu(c.retrieve.cpu)}`
          );
        }
      }
      rmSync(source);
      const medians = { protect: median(ratios.map((r) => r.protect)), retrieve: median(ratios.map((r) => r.retrieve)) };
      const worst = Math.max(...growths);
      const ok = allDone && medians.protect >= TARGET_RATIO && medians.retrieve >= TARGET_RATIO && worst < TARGET_GROWTH_MB;
      met &&= ok;
      lines.push(
        `${size / MiB} MiB over ${ROUNDS} rounds: median ratios protect ${medians.protect.toFixed(2)}x, retrieve ${medians.retrieve.toFixed(2)}x; largest memory growth +${worst.toFixed(0)} MB` +
          (nullSink ? '' : `; targets (median >= ${TARGET_RATIO}x, every growth < ${TARGET_GROWTH_MB} MB) ${ok ? 'met' : 'NOT met'}`)
      );
      if (compactRounds.length > 0) {
        const med = (f: (r: (typeof compactRounds)[number]) => number) => median(compactRounds.map(f)).toFixed(2);
        lines.push(
          `${size / MiB} MiB compact mode, medians over ${compactRounds.length} rounds: protect ${med((r) => r.protect)} MB/s, retrieve ${med((r) => r.retrieve)} MB/s of user data; ` +
            `ratios to baseline protect ${med((r) => r.ratio.protect)}x, retrieve ${med((r) => r.ratio.retrieve)}x; over Shamir protect ${med((r) => r.overShamir.protect)}x, retrieve ${med((r) => r.overShamir.retrieve)}x`
        );
      }
    }
    console.log(`kofn end-to-end benchmark (headless Chromium, 5 local relays, ${ROUNDS} rounds per size)`);
    for (const l of lines) console.log(`  ${l}`);
    console.log(nullSink ? '  diagnostic run: retrieved bytes were discarded, not written; targets not judged' : `  all targets ${met ? 'met' : 'NOT met'}`);
  } finally {
    await opened.close();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Issue #21: the two-level bench's size in MiB (256 by default) and its target ratio to the baseline. */
const TWO_LEVEL_MIB = Number(process.env.KOFN_BENCH_TWO_LEVEL_MIB ?? 256);
const TWO_LEVEL_TARGET = 0.6;

test('two-level sharing (2 of 3 groups, 2 of 3 relays in each) against an unsplit baseline of the same bytes', async () => {
  test.setTimeout(0);
  // Nine relays in three groups, as an administrator labels them (a cloud each).
  const stack = await startStack({ relays: 9, tier: 'Elite' });
  relayPids = stack.relayProcs.map((r) => r.pid);
  const dir = mkdtempSync(join(tmpdir(), 'kofn-bench-two-level-'));
  const lines: string[] = [];
  const opened = await openBench(stack, false);
  const { browser, page, csrfToken, shareWorker } = opened;
  const size = TWO_LEVEL_MIB * MiB;
  const mb = size / 1e6;
  let ok = true;
  try {
    const groups = ['cloud A', 'cloud B', 'cloud C'];
    for (const [i, r] of stack.relayProcs.entries()) {
      const patched = await page.request.patch(`/api/relays/${r.id}`, { data: { group: groups[Math.floor(i / 3)] }, headers: { Origin: stack.url, 'X-CSRF-Token': csrfToken } });
      if (patched.status() !== 200) throw new Error(`labelling relay ${i + 1}: ${patched.status()} ${await patched.text()}`);
    }
    await page.reload();
    const source = sourceFile(dir, size);
    const ratios: Array<{ protect: number; retrieve: number }> = [];
    const growths: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const name = `bench-two-level-${TWO_LEVEL_MIB}MiB-${round}.bin`;
      const path = join(dir, name);
      linkSync(source, path);
      const app = async () => {
        await page.getByTestId('layout-mode').selectOption('groups');
        const preset = await page.getByTestId('layout-preset').innerText();
        if (preset !== '3 groups, any 2; 2 of 3 storage servers in each') throw new Error(`unexpected layout preset: ${preset}`);
        const protect = await measure(page, async () => {
          await page.getByTestId('file-input').setInputFiles(path);
          return finished(page, `Protecting ${name}`);
        });
        const retrieve = await measure(page, async () => {
          await page.getByRole('button', { name: `Retrieve ${name}`, exact: true }).click();
          return finished(page, `Retrieving ${name}`);
        });
        return { protect, retrieve };
      };
      // The same bytes unsplit: a sub-share's worth to each of the 9 relays up (9 x size), K x k_g = 4 down.
      const baseline = async () => {
        const basePage = await browser.newPage();
        await basePage.goto(`/_app/immutable/workers/${shareWorker}`);
        const up = await measure(basePage, () => baselineUp(basePage, size, csrfToken, 4));
        const down = await measure(basePage, () => baselineDown(basePage, true));
        await basePage.close();
        await page.bringToFront();
        return { up, down };
      };
      let a: Awaited<ReturnType<typeof app>>, b: Awaited<ReturnType<typeof baseline>>;
      if (round % 2 === 1) {
        a = await app();
        b = await baseline();
      } else {
        b = await baseline();
        a = await app();
      }
      rmSync(path);
      const r = { protect: b.up.value / a.protect.seconds, retrieve: b.down.value / a.retrieve.seconds };
      ratios.push(r);
      growths.push(growth(a.protect), growth(a.retrieve));
      ok &&= a.protect.value === 'done' && a.retrieve.value === 'done';
      lines.push(
        `${TWO_LEVEL_MIB} MiB two-level, round ${round}: protect ${(mb / a.protect.seconds).toFixed(1)} MB/s (${a.protect.value}), memory ${mem(a.protect)}; ` +
          `retrieve ${(mb / a.retrieve.seconds).toFixed(1)} MB/s (${a.retrieve.value}), memory ${mem(a.retrieve)}`,
        `    baseline: upload ${(mb / b.up.value).toFixed(1)} MB/s, memory ${mem(b.up)}; download ${(mb / b.down.value).toFixed(1)} MB/s (plaintext-equivalent), memory ${mem(b.down)}`,
        `    ratios: protect ${r.protect.toFixed(2)}x, retrieve ${r.retrieve.toFixed(2)}x of baseline`,
        `    CPU seconds: protect ${fmtCpu(a.protect.cpu)}, baseline upload ${fmtCpu(b.up.cpu)}`,
        `                 retrieve ${fmtCpu(a.retrieve.cpu)}, baseline download ${fmtCpu(b.down.cpu)}`
      );
    }
    rmSync(source);
    const medians = { protect: median(ratios.map((r) => r.protect)), retrieve: median(ratios.map((r) => r.retrieve)) };
    const worst = Math.max(...growths);
    ok &&= medians.protect >= TWO_LEVEL_TARGET && medians.retrieve >= TWO_LEVEL_TARGET && worst < TARGET_GROWTH_MB;
    lines.push(
      `${TWO_LEVEL_MIB} MiB two-level over ${ROUNDS} rounds: median ratios protect ${medians.protect.toFixed(2)}x, retrieve ${medians.retrieve.toFixed(2)}x; largest memory growth +${worst.toFixed(0)} MB; ` +
        `targets (median >= ${TWO_LEVEL_TARGET}x, every growth < ${TARGET_GROWTH_MB} MB) ${ok ? 'met' : 'NOT met'}`
    );
    console.log(`kofn two-level benchmark (headless Chromium, 9 local relays in 3 groups, ${ROUNDS} rounds)`);
    for (const l of lines) console.log(`  ${l}`);
  } finally {
    await opened.close();
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
