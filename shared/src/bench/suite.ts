/**
 * The kernel benchmark suite, run unchanged in Node and in a Chromium Web Worker: split and combine
 * throughput for (2,3), (3,5), (5,10) on 1 MiB and 16 MiB, WASM SIMD and JS, randomness included; a
 * baseline (privy's shamir-secret-sharing) in the same run; and the MAC candidates.
 */
import { ShamirEngine, type KernelChoice } from '../index.js';
import { kernelLabel } from '../gf256.js';
import { randomBytes, randomFill } from '../random.js';
import { median, throughput } from './measure.js';

export interface Row {
  impl: string;
  k: number;
  n: number;
  size: number;
  splitMBps: number;
  combineMBps: number;
}

/** Split ratio against privy from interleaved rounds (ours, privy, ours, ...): noise hits both alike. */
export interface Paired {
  k: number;
  n: number;
  oursMBps: number;
  privyMBps: number;
  ratio: number;
}

export interface SuiteResult {
  env: string;
  rows: Row[];
  paired: Paired[];
  mac: { gmacMBps: number; hmacMBps: number };
}

export type PrivySplit = (secret: Uint8Array, shares: number, threshold: number) => Promise<Uint8Array[]>;
export type PrivyCombine = (shares: Uint8Array[]) => Promise<Uint8Array>;

export const PARAMS: Array<[number, number]> = [
  [2, 3],
  [3, 5],
  [5, 10]
];
export const MiB = 1024 * 1024;

async function ours(kind: KernelChoice, k: number, n: number, size: number, runs: number): Promise<Row> {
  const engine = new ShamirEngine(kind);
  const secret = randomBytes(size);
  const xs = Array.from({ length: n }, (_, i) => i + 1);
  const outs = xs.map(() => new Uint8Array(size));
  const split = await throughput(size, () => engine.splitInto(secret, k, xs, outs, 0), runs);
  const ys = outs.slice(0, k);
  const out = new Uint8Array(size);
  const combine = await throughput(size, () => engine.combineInto(ys, xs.slice(0, k), out, 0), runs);
  return { impl: kernelLabel(engine.kernel), k, n, size, splitMBps: split, combineMBps: combine };
}

async function privy(split: PrivySplit, combine: PrivyCombine, k: number, n: number, size: number): Promise<Row> {
  const secret = randomBytes(size);
  let shares: Uint8Array[] = [];
  const s = await throughput(
    size,
    async () => {
      shares = await split(secret, n, k);
    },
    3,
    200
  );
  const c = await throughput(size, () => combine(shares.slice(0, k)), 3, 200);
  return { impl: 'privy', k, n, size, splitMBps: s, combineMBps: c };
}

async function paired(split: PrivySplit, k: number, n: number, rounds = 5): Promise<Paired> {
  const engine = new ShamirEngine('wasm-simd');
  const secret = randomBytes(MiB);
  const small = randomBytes(64 * 1024);
  const xs = Array.from({ length: n }, (_, i) => i + 1);
  const outs = xs.map(() => new Uint8Array(MiB));
  const ours: number[] = [];
  const theirs: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const o = await throughput(MiB, () => engine.splitInto(secret, k, xs, outs, 0), 1, 100);
    const p = await throughput(small.length, () => split(small, n, k), 1, 200);
    ours.push(o);
    theirs.push(p);
    ratios.push(o / p);
  }
  return { k, n, oursMBps: median(ours), privyMBps: median(theirs), ratio: median(ratios) };
}

async function macs(): Promise<{ gmacMBps: number; hmacMBps: number }> {
  const data = new Uint8Array(MiB);
  randomFill(data);
  const raw = randomBytes(32);
  const gk = await crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt']);
  const hk = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const iv = new Uint8Array(12);
  const empty = new Uint8Array(0);
  return {
    gmacMBps: await throughput(MiB, () => crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: data }, gk, empty)),
    hmacMBps: await throughput(MiB, () => crypto.subtle.sign('HMAC', hk, data))
  };
}

export async function runSuite(env: string, baseline: { split: PrivySplit; combine: PrivyCombine }, log: (s: string) => void = () => undefined): Promise<SuiteResult> {
  const rows: Row[] = [];
  for (const [k, n] of PARAMS) {
    for (const size of [MiB, 16 * MiB]) {
      rows.push(await ours('wasm-simd', k, n, size, size > MiB ? 3 : 5));
      log(`${env}: wasm (${k},${n}) ${size / MiB} MiB done`);
      rows.push(await ours('js', k, n, size, 3));
      log(`${env}: js (${k},${n}) ${size / MiB} MiB done`);
    }
    // privy is three to four orders of magnitude slower; 64 KiB gives stable figures in seconds.
    rows.push(await privy(baseline.split, baseline.combine, k, n, 64 * 1024));
    log(`${env}: privy (${k},${n}) done`);
  }
  const pairs: Paired[] = [];
  for (const [k, n] of PARAMS) {
    pairs.push(await paired(baseline.split, k, n));
    log(`${env}: paired rounds (${k},${n}) done`);
  }
  return { env, rows, paired: pairs, mac: await macs() };
}
