/**
 * Compact mode against Shamir in the same process and run (issue #23, lever 2): per chunk of user data,
 * encode (Shamir: GMAC + split into n shares; compact: AES-256-GCM + Reed-Solomon into n fragments) and
 * decode from k (Shamir: combine + GMAC; compact: from the k systematic fragments, a copy, and from k
 * fragments with as many parity ones as possible, Reed-Solomon evaluation; then AES-256-GCM), with
 * header writing and allocation included, as the protect and retrieve pipelines run them. Rounds are
 * interleaved (Shamir, compact, Shamir, ...) so that noise on this shared machine hits both alike; figures
 * are medians of the rounds and ratios are medians of per-round ratios. MB = 10^6 bytes of user data.
 * Environment-agnostic: runs in Node (compact-bench.ts) and in a Chromium worker (browser-worker.ts).
 */
import { ShareDecoder, ShareEncoder, newMacKey } from '../codec.js';
import { CompactEncoder } from '../compact.js';
import { kernelLabel } from '../gf256.js';
import { randomBytes } from '../random.js';
import { ShamirEngine } from '../shamir.js';
import { median, throughput } from './measure.js';

const MiB = 1024 * 1024;

export interface CompactBenchRow {
  k: number;
  n: number;
  shamirEncodeMBps: number;
  compactEncodeMBps: number;
  encodeRatio: number;
  shamirDecodeMBps: number;
  compactDecodeSystematicMBps: number;
  compactDecodeParityMBps: number;
  decodeSystematicRatio: number;
  decodeParityRatio: number;
  /** Bytes stored on all relays per byte of user data (1 MiB chunks, headers and tags included). */
  shamirStoredPerByte: number;
  compactStoredPerByte: number;
}

export interface CompactBenchResult {
  env: string;
  kernel: string;
  chunk: number;
  rounds: number;
  rows: CompactBenchRow[];
  /** Node only: the load average after the run (this machine is shared). */
  loadAfter?: number[];
}

async function measure(k: number, n: number, rounds: number): Promise<CompactBenchRow> {
  const xs = Array.from({ length: n }, (_, i) => 200 - 7 * i);
  const fileId = randomBytes(16);
  const key = newMacKey();
  const data = randomBytes(MiB);
  const meta = { name: 'bench.bin', type: '', size: MiB, chunkSize: MiB, chunkCount: 1, createdAt: 0, macKey: key };
  const opts = { k, xs, fileId, epoch: 0, engine: new ShamirEngine('wasm-simd') };
  const shamir = await ShareEncoder.create(opts, key);
  const compact = await CompactEncoder.create({ ...opts, engine: new ShamirEngine('wasm-simd') }, key);
  const shamirMeta = await shamir.encodeMetadata(meta);
  const compactMeta = await compact.encodeMetadata(meta);
  const sShares = await shamir.encodeData(1, true, data);
  const cShares = await compact.encodeData(1, true, data);
  const sDec = new ShareDecoder(new ShamirEngine('wasm-simd'));
  const cDec = new ShareDecoder(new ShamirEngine('wasm-simd'));
  await sDec.decodeMetadata(shamirMeta.slice(0, k), { fileId });
  await cDec.decodeMetadata(compactMeta.slice(0, k), { fileId });
  const expected = { fileId, index: 1, epoch: 0, k };
  const systematic = cShares.slice(0, k);
  // As many parity fragments as there are, then data pieces: the most Reed-Solomon work a reader does.
  const parityFirst = [...cShares.slice(k), ...cShares.slice(0, k)].slice(0, k);
  const sUsed = sShares.slice(n - k);
  const r = { se: [] as number[], ce: [] as number[], sd: [] as number[], cds: [] as number[], cdp: [] as number[], re: [] as number[], rds: [] as number[], rdp: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    const se = await throughput(MiB, () => shamir.encodeData(1, true, data), 1, 150);
    const ce = await throughput(MiB, () => compact.encodeData(1, true, data), 1, 150);
    const sd = await throughput(MiB, () => sDec.decodeData(sUsed, expected), 1, 150);
    const cds = await throughput(MiB, () => cDec.decodeData(systematic, expected), 1, 150);
    const cdp = await throughput(MiB, () => cDec.decodeData(parityFirst, expected), 1, 150);
    r.se.push(se);
    r.ce.push(ce);
    r.sd.push(sd);
    r.cds.push(cds);
    r.cdp.push(cdp);
    r.re.push(ce / se);
    r.rds.push(cds / sd);
    r.rdp.push(cdp / sd);
  }
  const stored = (shares: Uint8Array[]): number => shares.reduce((s, x) => s + x.length, 0) / MiB;
  return {
    k,
    n,
    shamirEncodeMBps: median(r.se),
    compactEncodeMBps: median(r.ce),
    encodeRatio: median(r.re),
    shamirDecodeMBps: median(r.sd),
    compactDecodeSystematicMBps: median(r.cds),
    compactDecodeParityMBps: median(r.cdp),
    decodeSystematicRatio: median(r.rds),
    decodeParityRatio: median(r.rdp),
    shamirStoredPerByte: stored(sShares),
    compactStoredPerByte: stored(cShares)
  };
}

export async function runCompactBench(env: string, rounds = 5, log: (s: string) => void = () => undefined): Promise<CompactBenchResult> {
  const rows: CompactBenchRow[] = [];
  for (const [k, n] of [
    [2, 3],
    [3, 5],
    [5, 10]
  ] as const) {
    rows.push(await measure(k, n, rounds));
    log(`${env}: compact vs Shamir (${k},${n}) done`);
  }
  return { env, kernel: kernelLabel(new ShamirEngine('wasm-simd').kernel), chunk: MiB, rounds, rows };
}

const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(3));

/** The table bench.ts prints. */
export function formatCompactBench(r: CompactBenchResult): string {
  const lines = [
    `\n## compact mode vs Shamir, ${r.env}, ${r.kernel}, 1 MiB chunks, MB/s of user data, medians of ${r.rounds} interleaved rounds`,
    '(k,n)    Shamir enc  compact enc  ratio   Shamir dec  compact dec (systematic / parity)  ratios          stored per byte (Shamir / compact)'
  ];
  for (const x of r.rows) {
    lines.push(
      `(${x.k},${x.n})`.padEnd(9) +
        fmt(x.shamirEncodeMBps).padStart(10) +
        fmt(x.compactEncodeMBps).padStart(13) +
        `${fmt(x.encodeRatio)}x`.padStart(7) +
        fmt(x.shamirDecodeMBps).padStart(13) +
        `${fmt(x.compactDecodeSystematicMBps)} / ${fmt(x.compactDecodeParityMBps)}`.padStart(20) +
        `${fmt(x.decodeSystematicRatio)}x / ${fmt(x.decodeParityRatio)}x`.padStart(30) +
        `${x.shamirStoredPerByte.toFixed(2)} / ${x.compactStoredPerByte.toFixed(2)}`.padStart(22)
    );
  }
  if (r.loadAfter) lines.push(`  load average after: ${r.loadAfter.map((x) => x.toFixed(2)).join(', ')}`);
  return lines.join('\n');
}
