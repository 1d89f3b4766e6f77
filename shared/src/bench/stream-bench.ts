/**
 * Streams N bytes through protect (split, k = 3 of n = 5, GMAC) and straight into retrieve (combine and
 * authenticate from 3 shares), checking every plaintext chunk, and reports throughput and peak RSS.
 * Run in a fresh process per size by bench.ts, so peak RSS belongs to this stream alone.
 *   node dist/bench/stream-bench.js <bytes> [shamir|compact]
 * In compact mode (AES-256-GCM + Reed-Solomon, docs/compact-mode.md) the 3 fragments read are relays 5, 1
 * and 3: one parity fragment and two data pieces, so every chunk runs the Reed-Solomon rebuild.
 */
import { createProtectStream, createRetrieveStream, DEFAULT_CHUNK_SIZE, type EncodedChunk, type ShareSet } from '../index.js';
import { randomBytes } from '../random.js';

const total = Number(process.argv[2] ?? 1024 ** 3);
const mode = process.argv[3] === 'compact' ? 'compact' : 'shamir';
const chunk = DEFAULT_CHUNK_SIZE;
const pattern = randomBytes(chunk);
const fileId = randomBytes(16);

let sent = 0;
const source = new ReadableStream<Uint8Array>(
  {
    pull(controller) {
      if (sent >= total) {
        controller.close();
        return;
      }
      const n = Math.min(chunk, total - sent);
      sent += n;
      // A fresh buffer per read, as File streams give; contents repeat so the output can be checked cheaply.
      controller.enqueue(pattern.slice(0, n));
    }
  },
  { highWaterMark: 2 }
);

let peakRss = process.memoryUsage().rss;
const startRss = peakRss;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 20);

const t0 = performance.now();
// CPU time of this process (all threads: WebCrypto and GC included): on a shared, loaded machine wall-clock
// MB/s also measures the scheduler, MB per CPU-second what the work costs.
const cpu0 = process.cpuUsage();
const protect = await createProtectStream({ k: 3, xs: [1, 2, 3, 4, 5], fileId, mode, file: { name: 'big.bin', size: total, type: '', chunkSize: chunk } });
const toSets = new TransformStream<EncodedChunk, ShareSet>({
  transform(c, controller) {
    controller.enqueue({ index: c.index, shares: [c.shares[4]!, c.shares[0]!, c.shares[2]!] });
  }
});
const retrieve = createRetrieveStream({ fileId });
const done = source.pipeTo(protect.writable);
let received = 0;
let mismatches = 0;
for await (const plain of protect.readable.pipeThrough(toSets).pipeThrough(retrieve)) {
  if (!Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength).equals(Buffer.from(pattern.buffer, 0, plain.byteLength))) mismatches++;
  received += plain.byteLength;
}
await done;
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
clearInterval(sampler);
peakRss = Math.max(peakRss, process.memoryUsage().rss);
process.stdout.write(
  JSON.stringify({
    bytes: total,
    mode,
    received,
    mismatches,
    seconds,
    MBps: total / 1e6 / seconds,
    cpuSeconds,
    cpuMBps: total / 1e6 / cpuSeconds,
    startRssMB: startRss / 1e6,
    peakRssMB: peakRss / 1e6,
    maxRssMB: process.resourceUsage().maxRSS / 1e3
  }) + '\n'
);
