/**
 * The allocate-and-return API at 16 MiB, (3,5), in this Node process (bench.ts runs it in a fresh child
 * with default flags; alone: `node dist/bench/alloc-bench.js`). Prints one JSON line.
 *
 * Interleaved rounds, so load from other processes hits every variant alike; each round times every
 * variant REPS times. Figures are medians over rounds of wall-clock MB/s (MB = 10^6 B of secret) and of
 * CPU-time MB/s (user + system time of this process, GC threads included: what the call costs, less
 * sensitive to other processes on a shared machine); ratios are medians of per-round ratios.
 *
 * Baselines measured in the same run:
 * - memcpy: n fresh uninitialised 16 MiB allocations and the secret copied into each. The floor of any
 *   allocate-and-return split: it writes the same fresh memory and computes nothing.
 * - splitInto / combineInto: the streaming path into outputs allocated once (no page faults).
 * - split() with zeroed outputs: what split() did before (n `new Uint8Array(len)` then splitInto).
 */
import { ShamirEngine, combine, split } from '../shamir.js';
import { randomBytes } from '../random.js';
import { median } from './measure.js';

const MiB = 1024 * 1024;
const SIZE = 16 * MiB;
const K = 3;
const XS = [1, 2, 3, 4, 5];
const ROUNDS = Number(process.env.KOFN_BENCH_ROUNDS ?? 9);
const REPS = 3;

export interface AllocVariant {
  name: string;
  wallMBps: number;
  cpuMBps: number;
}

export interface AllocResult {
  env: string;
  size: number;
  k: number;
  n: number;
  rounds: number;
  variants: AllocVariant[];
  /** Medians of per-round ratios of wall-clock throughput. */
  ratios: Array<{ name: string; value: number }>;
}

function uninitialised(len: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(len);
  return new Uint8Array(b.buffer, b.byteOffset, len);
}

const secret = randomBytes(SIZE);
const engine = new ShamirEngine();
const fixedOuts = XS.map(() => new Uint8Array(SIZE));
const shares = split(secret, K, XS);
const picked = [0, 2, 4].map((j) => ({ x: XS[j]!, y: shares[j]! }));
const fixedOut = new Uint8Array(SIZE);

const variants: Array<[string, () => void]> = [
  [
    'memcpy baseline (n fresh outputs)',
    () => {
      for (const _x of XS) {
        const o = uninitialised(SIZE);
        o.set(secret);
      }
    }
  ],
  ['splitInto (streaming path)', () => engine.splitInto(secret, K, XS, fixedOuts, 0)],
  [
    'split() with zeroed outputs (before)',
    () => {
      const outs = XS.map(() => new Uint8Array(SIZE));
      engine.splitInto(secret, K, XS, outs, 0);
    }
  ],
  ['split()', () => void split(secret, K, XS)],
  [
    'combineInto (streaming path)',
    () =>
      engine.combineInto(
        picked.map((p) => p.y),
        picked.map((p) => p.x),
        fixedOut,
        0
      )
  ],
  ['combine()', () => void combine(picked)]
];

const wall = new Map<string, number[]>(variants.map(([n]) => [n, []]));
const cpu = new Map<string, number[]>(variants.map(([n]) => [n, []]));
for (const [, fn] of variants) fn(); // warm-up: JIT, WASM tier-up, workspace growth
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, fn] of variants) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < REPS; i++) fn();
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    wall.get(name)!.push((REPS * SIZE) / 1e3 / ms);
    cpu.get(name)!.push((REPS * SIZE) / (c.user + c.system));
  }
}

const perRound = (a: string, b: string): number => median(wall.get(a)!.map((x, i) => x / wall.get(b)![i]!));
const result: AllocResult = {
  env: `node ${process.version}${process.execArgv.length ? ` ${process.execArgv.join(' ')}` : ' (default flags)'}`,
  size: SIZE,
  k: K,
  n: XS.length,
  rounds: ROUNDS,
  variants: variants.map(([name]) => ({ name, wallMBps: median(wall.get(name)!), cpuMBps: median(cpu.get(name)!) })),
  ratios: [
    { name: 'split() / memcpy baseline', value: perRound('split()', 'memcpy baseline (n fresh outputs)') },
    { name: 'split() / splitInto', value: perRound('split()', 'splitInto (streaming path)') },
    { name: 'split() / split() with zeroed outputs (before)', value: perRound('split()', 'split() with zeroed outputs (before)') },
    { name: 'combine() / combineInto', value: perRound('combine()', 'combineInto (streaming path)') }
  ]
};
process.stdout.write(`${JSON.stringify(result)}\n`);
