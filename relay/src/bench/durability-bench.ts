/**
 * `npm run bench -w relay` (second part): repair and renewal (issues #16 and #15) on real relay processes
 * (disk backend) over loopback, against a baseline measured in the same run: the same relays streaming a
 * share relay to relay with no arithmetic (the receiver's `collect` with a `source`, relay/src/repair.ts:
 * GET from one relay, PUT-equivalent store on the other, the exact path a repair's bytes take).
 *
 * A (3,5) file of KOFN_BENCH_DURABILITY_MIB MiB (default 256; the issue's 1 GiB with 1024) is split in
 * this process and PUT to relays 1..5 (1 MiB chunks). Then, in rounds (KOFN_BENCH_DURABILITY_ROUNDS,
 * default 3), each round alternating which goes first:
 *
 *   copy     relay 6 (fresh) copies relay 1's share: S bytes relay to relay (the baseline);
 *   repair   relay 6 receives a share at a fresh x from helpers 1..3 (seed exchange, k masked terms per
 *            chunk, sum): reads k*S, moves k*S, writes S. Ratio = copy time / repair time (target >= 0.5);
 *   renewal  once per round, epoch e -> e+1: 3 dealers deal to 5 receivers (k*n*S bytes moved), every relay
 *            stages (reads n*(1+k)*S, writes n*S), every relay tags. Ratios: copy time / renewal time, and
 *            per byte moved relay to relay, (k*n*S / renewal time) / (S / copy time).
 *
 * Every step walks the file in ranges of at most 16 MiB of share chunks (copy, repair collect, deal, prepare,
 * check), as the coordinator's jobs do, under the relays' production time limits (KOFN_BENCH_LIFT_LIMITS=1
 * lifts them). Relays' peak RSS (VmHWM) per phase and over the whole run, in MiB (target < 150 MB, i.e. 143 MiB).
 * MB = 10^6 bytes; medians over rounds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { exportJWK } from 'jose';
import { HEADER_BYTES, chunkRanges, createProtectStream, failedEquations, fileIdToHex, parityWeights, randomBytes, randomHex, randomUuid, shareChunkLength, type EncodedChunk } from '@kofn/shared';
import { receiversHash } from '../renewal.js';
import { RELAY_NODE_ARGS, relayEnv } from '../launch.js';
import { makeSigner, type Signer } from '../testing/tokens.js';

const MIB = Number(process.env.KOFN_BENCH_DURABILITY_MIB ?? 256);
const ROUNDS = Number(process.env.KOFN_BENCH_DURABILITY_ROUNDS ?? 3);
const K = 3;
const N = 5;
const CHUNK = 1024 * 1024;
const TARGET = { repair: 0.5, renewal: 0.5, rssMB: 150 };
/**
 * The relay the bench starts: this build's, or another build's main.js (KOFN_BENCH_RELAY_MAIN), so a change
 * is measured against the code before it with the same bench on the same machine.
 */
const main = process.env.KOFN_BENCH_RELAY_MAIN ?? join(import.meta.dirname, '..', 'main.js');
/** KOFN_BENCH_DURABILITY_RENEWAL=0 leaves renewal out of the rounds (copy and repair only: a repair change measured in minutes). */
const RENEWAL = process.env.KOFN_BENCH_DURABILITY_RENEWAL !== '0';
/**
 * The relays run as they ship (launch.ts: Node flags and environment); KOFN_BENCH_RELAY_LAUNCH=default starts
 * them with Node's and glibc's defaults instead, to measure what those settings save in the same bench.
 */
const AS_SHIPPED = process.env.KOFN_BENCH_RELAY_LAUNCH !== 'default';
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

interface Relay {
  id: string;
  url: string;
  pid: number;
  dataDir: string;
  child: ChildProcess;
}

async function startRelay(name: string, jwk: string): Promise<Relay> {
  const id = randomUuid();
  const dataDir = mkdtempSync(join(tmpdir(), 'kofn-bench-dur-'));
  // Profiling (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" or "--trace-gc"): V8 flags for every relay.
  const nodeArgs = [...(AS_SHIPPED ? RELAY_NODE_ARGS : []), ...(process.env.KOFN_BENCH_RELAY_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const child = spawn(process.execPath, [...nodeArgs, main], {
    env: {
      ...process.env,
      KOFN_RELAY_NAME: name,
      KOFN_RELAY_HOST: '127.0.0.1',
      KOFN_RELAY_PORT: '0',
      KOFN_RELAY_DATA: dataDir,
      KOFN_RELAY_ID: id,
      KOFN_TOKEN_PUBLIC_JWK: jwk,
      KOFN_COORDINATOR: '',
      KOFN_LOG_LEVEL: 'warn',
      ...(AS_SHIPPED ? relayEnv() : {}),
      // Every step walks the file in ranges of at most 16 MiB of share chunks, as the coordinator's jobs do
      // (shared/src/step-ranges.ts), so the production idle (60 s) and response (10 min) limits apply unless
      // KOFN_BENCH_LIFT_LIMITS=1 raises them (a 16 MiB range at load ~40 can still come near the idle cut).
      ...(process.env.KOFN_BENCH_LIFT_LIMITS === '1' ? { KOFN_RELAY_IDLE_TIMEOUT_MS: '3600000', KOFN_RELAY_RESPONSE_TIMEOUT_MS: '3600000' } : {})
    },
    stdio: ['ignore', 'pipe', 'inherit']
  });
  const url = await new Promise<string>((res, rej) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      // Anything but the relay's JSON lines is V8's output under KOFN_BENCH_RELAY_NODE_ARGS (--trace-gc).
      if (!line.startsWith('{')) return void process.stderr.write(`[${name}] ${line}\n`);
      const msg = JSON.parse(line) as { event: string; url: string };
      if (msg.event === 'listening') res(msg.url);
    });
    child.once('exit', (code) => rej(new Error(`relay exited early (${code})`)));
  });
  if (child.pid === undefined) throw new Error('the relay process did not start');
  return { id, url, pid: child.pid, dataDir, child };
}

/** A relay's peak resident set (VmHWM, kB) in MiB since it started or since resetPeak. */
function vmHwmMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** A process's user + system CPU time in seconds (proc(5) /proc/pid/stat fields 14 and 15, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Resets a relay's VmHWM to its current RSS (proc(5), /proc/pid/clear_refs, value 5; Linux >= 4.0), so each
 * phase's peak is read on its own: which step sets a relay's peak is what a memory cut has to aim at.
 */
function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

async function call(url: string, token: string, method: string, body?: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(3600_000)
  });
  const text = await res.text();
  if (res.status !== 200 && res.status !== 201) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
  return text ? (JSON.parse(text) as unknown) : {};
}

async function main_(): Promise<void> {
  const signer: Signer = await makeSigner('unused');
  const jwk = JSON.stringify(await exportJWK(signer.publicKey));
  const relays: Relay[] = [];
  for (let j = 0; j < N + 1; j++) relays.push(await startRelay(`bench-${j + 1}`, jwk));
  const holders = relays.slice(0, N);
  const fresh = relays[N]!;
  const mint = (r: Relay, fid: string, op: string, extra: Record<string, unknown> = {}) => signer.mint({ fid, op: op as never, chunks: [0, 1_000_000], ...extra }, { aud: r.id, exp: 900 });
  try {
    // Protect: split here (the browser's engine) and PUT share j of every chunk to relay j, 4 chunks in flight.
    const xs = [11, 22, 33, 44, 55];
    const fileIdBytes = randomBytes(16);
    const fileId = fileIdToHex(fileIdBytes);
    const size = MIB * 1024 * 1024;
    const p = await createProtectStream({ k: K, xs, fileId: fileIdBytes, file: { name: 'bench.bin', size, type: 'application/octet-stream', chunkSize: CHUNK } });
    const putTokens = await Promise.all(holders.map((r) => mint(r, fileId, 'put', { max: CHUNK + 64 + HEADER_BYTES })));
    const t0 = performance.now();
    const writing = (async () => {
      const w = p.writable.getWriter();
      const piece = new Uint8Array(CHUNK);
      for (let at = 0; at < size; at += CHUNK) {
        piece.set(randomBytes(Math.min(CHUNK, 65536)));
        await w.write(piece.subarray(0, Math.min(CHUNK, size - at)));
      }
      await w.close();
    })();
    let chunkCount = 0;
    const inFlight = new Set<Promise<void>>();
    for await (const c of p.readable as AsyncIterable<EncodedChunk>) {
      const put = Promise.all(
        holders.map(async (r, j) => {
          const res = await fetch(`${r.url}/v1/files/${fileId}/chunks/${c.index}`, { method: 'PUT', headers: { authorization: `Bearer ${putTokens[j]!}` }, body: c.shares[j]! });
          if (res.status !== 201) throw new Error(`upload: ${res.status} ${await res.text()}`);
        })
      ).then(() => undefined);
      inFlight.add(put);
      void put.finally(() => inFlight.delete(put));
      if (inFlight.size >= 4) await Promise.race(inFlight);
      chunkCount = c.index;
    }
    await Promise.all(inFlight);
    await writing;
    const uploadS = (performance.now() - t0) / 1000;
    // Each relay's peak RSS per phase (MiB): `mark` closes a phase (the upload from the relays' start) and
    // resets the peak for the next. A reset peak starts at the RSS the relay still holds, so a phase's figure
    // is max(RSS kept from before, its own peak).
    const peaks = new Map<string, number[]>();
    let cpuAt = relays.map((r) => cpuSeconds(r.pid));
    const mark = (name: string): void => {
      const now = relays.map((r) => vmHwmMiB(r.pid));
      peaks.set(
        name,
        now.map((m, j) => Math.max(m, peaks.get(name)?.[j] ?? 0))
      );
      for (const r of relays) resetPeak(r.pid);
      // CPU seconds each relay spent in the phase (summed over rounds): where a step's time goes when the
      // receiver itself is mostly idle (helpers' work, transfers, fsync waits show as CPU elsewhere or none).
      const now2 = relays.map((r) => cpuSeconds(r.pid));
      cpu.set(
        name,
        now2.map((t, j) => (cpu.get(name)?.[j] ?? 0) + t - (cpuAt[j] ?? 0))
      );
      cpuAt = now2;
    };
    const cpu = new Map<string, number[]>();
    mark('upload');
    const phase = async (name: string, step: () => Promise<number>): Promise<number> => {
      const seconds = await step();
      mark(name);
      return seconds;
    };
    const shareBytes = size + (chunkCount + 1) * (HEADER_BYTES + 16);
    console.log(
      `durability bench: (${K},${N}) file of ${MIB} MiB in ${chunkCount} chunks of 1 MiB, uploaded to 5 relays in ${uploadS.toFixed(1)} s; relays started ${AS_SHIPPED ? `as shipped (${[...RELAY_NODE_ARGS, ...Object.entries(relayEnv()).map(([key, v]) => `${key}=${v}`)].join(' ')})` : "with Node's and glibc's defaults"}`
    );

    let epoch = 0;
    // The steps' ranges, as the coordinator's jobs cut them (16 MiB of share chunks each).
    const ranges = () => chunkRanges(chunkCount, shareChunkLength(CHUNK));
    const drop = async (fid: string, ep: number) => call(`${fresh.url}/v1/files/${fid}/epochs/${ep}`, await mint(fresh, fid, 'renew_drop', { ep, dxs: [] }), 'DELETE');
    const copy = async (): Promise<number> => {
      await drop(fileId, epoch);
      const src = holders[0]!;
      const t = performance.now();
      const rid = randomHex(16);
      for (const [from, to] of ranges()) {
        await call(`${fresh.url}/v1/repair/${fileId}/collect`, await mint(fresh, fileId, 'repair_collect', { ep: epoch, chunks: [0, 0] }), 'POST', {
          rid,
          x: xs[0],
          k: K,
          epoch,
          chunkCount,
          from,
          to,
          source: { url: src.url, token: await mint(src, fileId, 'get', { ep: epoch }) }
        });
      }
      return (performance.now() - t) / 1000;
    };
    const repair = async (): Promise<number> => {
      await drop(fileId, epoch);
      const helpers = holders.slice(0, K);
      const hx = xs.slice(0, K);
      const rid = randomHex(16);
      const t = performance.now();
      for (let j = 0; j < K; j++) {
        const peers = await Promise.all(helpers.slice(j + 1).map(async (h) => ({ url: h.url, token: await mint(h, fileId, 'repair_seed', { ep: epoch, chunks: [j, j] }) })));
        await call(`${helpers[j]!.url}/v1/repair/${fileId}/start`, await mint(helpers[j]!, fileId, 'repair_start', { ep: epoch, chunks: [0, 0] }), 'POST', {
          rid,
          xs: hx,
          self: j,
          xNew: 99,
          epoch,
          chunkCount,
          peers
        });
      }
      const sources = await Promise.all(helpers.map(async (h) => ({ url: h.url, token: await mint(h, fileId, 'repair_send', { ep: epoch, chunks: [0, 0] }) })));
      // A fresh x (99): the new relay joins with a share no relay held before. One collect per range, within
      // one repair session, as the coordinator's repair job does.
      for (const [from, to] of ranges()) {
        await call(`${fresh.url}/v1/repair/${fileId}/collect`, await mint(fresh, fileId, 'repair_collect', { ep: epoch, chunks: [0, 0] }), 'POST', {
          rid,
          x: 99,
          k: K,
          epoch,
          chunkCount,
          from,
          to,
          helpers: sources
        });
      }
      return (performance.now() - t) / 1000;
    };
    const renew = async (): Promise<number> => {
      const next = epoch + 1;
      const dxs = xs.slice(0, K);
      const t = performance.now();
      await Promise.all(
        holders.slice(0, K).map(async (dealer, d) => {
          const receivers = await Promise.all(
            holders.map(async (r, j) => ({
              x: xs[j]!,
              id: r.id,
              name: `bench-${j + 1}`,
              url: r.url,
              token: await mint(r, fileId, 'renew_put', { ep: next, dx: xs[d], max: CHUNK + 64 + HEADER_BYTES })
            }))
          );
          return receivers;
        })
      ).then(async (lists) => {
        // Range by range, as the coordinator deals (renewal.ts): every dealer finishes a range before the next.
        for (const [from, to] of ranges()) {
          await Promise.all(
            holders.slice(0, K).map(async (dealer, d) =>
              call(`${dealer.url}/v1/files/${fileId}/epochs/${next}/deal`, await mint(dealer, fileId, 'renew_deal', { ep: next, rh: receiversHash(lists[d]!) }), 'POST', {
                receivers: lists[d],
                from,
                to
              })
            )
          );
        }
      });
      mark('deal');
      for (const [from, to] of ranges()) {
        await Promise.all(holders.map(async (r) => call(`${r.url}/v1/files/${fileId}/epochs/${next}/prepare`, await mint(r, fileId, 'renew_prepare', { ep: next, dxs }), 'POST', { from, to })));
      }
      mark('prepare');
      const key = randomBytes(16);
      const weights = parityWeights(xs, K);
      const tags = await Promise.all(
        holders.map(async (r, j) => {
          // Ranged: the relay answers `{ next }` until the last range, then its masked tags.
          let a: { tags?: string[] } = {};
          for (const [from, to] of ranges()) {
            a = (await call(`${r.url}/v1/files/${fileId}/epochs/${next}/check`, await mint(r, fileId, 'renew_check', { ep: next, w: weights[j], dxs }), 'POST', {
              key: Buffer.from(key).toString('base64url'),
              from,
              to
            })) as { tags?: string[] };
          }
          if (!a.tags) throw new Error('the check answered no tags');
          return a.tags.map((s) => new Uint8Array(Buffer.from(s, 'base64url')));
        })
      );
      const seconds = (performance.now() - t) / 1000;
      // The check's verdict is computed outside the timing (the coordinator's side), so a broken renewal is
      // never reported as a fast one.
      const r0 = holders[0]!;
      const list = (await call(`${r0.url}/v1/files/${fileId}/chunks`, await mint(r0, fileId, 'list', { ep: next }), 'GET')) as { chunks: Array<{ index: number; size: number }> };
      const lengths = list.chunks.map((c) => ({ index: c.index, bodyLength: c.size - HEADER_BYTES }));
      const failed = await failedEquations(tags, key, lengths);
      if (failed.length) throw new Error(`renewal check failed: equations ${failed.join(', ')}`);
      // Drop the old epoch and the contributions, as the coordinator's drop job does after the grace.
      await Promise.all(holders.map(async (r) => call(`${r.url}/v1/files/${fileId}/epochs/${epoch}`, await mint(r, fileId, 'renew_drop', { ep: epoch, dxs: [] }), 'DELETE')));
      epoch = next;
      return seconds;
    };

    const times = { copy: [] as number[], repair: [] as number[], renew: [] as number[] };
    const ratios = { repair: [] as number[], renew: [] as number[], renewPerByte: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which of the pair goes first: the load drifts on a shared machine.
      let c: number;
      let r: number;
      if (round % 2 === 0) {
        c = await phase('copy', copy);
        r = await phase('repair', repair);
      } else {
        r = await phase('repair', repair);
        c = await phase('copy', copy);
      }
      times.copy.push(c);
      times.repair.push(r);
      ratios.repair.push(c / r);
      if (!RENEWAL) {
        console.log(`  round ${round + 1}: copy ${c.toFixed(2)} s, repair ${r.toFixed(2)} s (ratio ${(c / r).toFixed(2)}x), load ${loadavg()[0]!.toFixed(1)}`);
        continue;
      }
      const n = await phase('check', renew);
      times.renew.push(n);
      ratios.renew.push(c / n);
      ratios.renewPerByte.push((K * N * c) / n);
      console.log(`  round ${round + 1}: copy ${c.toFixed(2)} s, repair ${r.toFixed(2)} s, renewal ${n.toFixed(2)} s, load ${loadavg()[0]!.toFixed(1)}`);
    }
    const mbps = (s: number) => (shareBytes / 1e6 / s).toFixed(0);
    const rss = relays.map((_, j) => Math.max(...[...peaks.values()].map((p) => p[j]!)));
    const peak = Math.max(...rss);
    console.log(`  copy (baseline)   median ${median(times.copy).toFixed(2)} s  ${mbps(median(times.copy))} MB/s of share`);
    console.log(
      `  repair (fresh x)  median ${median(times.repair).toFixed(2)} s  ${mbps(median(times.repair))} MB/s of share  ratio ${median(ratios.repair).toFixed(2)}x of baseline (target >= ${TARGET.repair}x)`
    );
    if (RENEWAL)
      console.log(
        `  renewal           median ${median(times.renew).toFixed(2)} s  ${(size / 1e6 / median(times.renew)).toFixed(0)} MB/s of file  ratio ${median(ratios.renew).toFixed(2)}x of one share copy; per byte moved relay to relay ${median(ratios.renewPerByte).toFixed(2)}x (target >= ${TARGET.renewal}x)`
      );
    // VmHWM is in KiB: MiB here, and the target checked in MB (10^6 bytes) as it is stated.
    for (const [name, t] of cpu) if (name !== 'upload') console.log(`  CPU s in ${name.padEnd(8)} ${t.map((v) => v.toFixed(1).padStart(6)).join(' ')} (relays 1-6, all rounds)`);
    for (const [name, p] of peaks) console.log(`  peak RSS in ${name.padEnd(8)} ${p.map((m) => m.toFixed(0).padStart(4)).join(' ')} MiB (relays 1-6)`);
    const peakMB = (peak * 1024 * 1024) / 1e6;
    console.log(
      `  relay peak RSS ${rss.map((m) => m.toFixed(0)).join(', ')} MiB (max ${peak.toFixed(0)} MiB = ${peakMB.toFixed(0)} MB, target < ${TARGET.rssMB} MB: ${peakMB < TARGET.rssMB ? 'met' : 'NOT met'})`
    );
  } finally {
    // Under KOFN_BENCH_RELAY_NODE_ARGS a relay stops with SIGTERM (it shuts down and exits, so --cpu-prof
    // writes its profile); otherwise SIGKILL, as before.
    const profiling = (process.env.KOFN_BENCH_RELAY_NODE_ARGS ?? '') !== '';
    await Promise.all(
      relays.map(async (r) => {
        const exited = new Promise((res) => r.child.once('exit', res));
        r.child.kill(profiling ? 'SIGTERM' : 'SIGKILL');
        await Promise.race([exited, new Promise((res) => setTimeout(res, 30_000))]);
        if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
        rmSync(r.dataDir, { recursive: true, force: true });
      })
    );
  }
}

await main_();
