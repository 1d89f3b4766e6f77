/**
 * A worker thread of codec-pool.ts: one ShareEncoder (or CompactEncoder) or ShareDecoder (the protocol core), fed
 * one chunk at a time. Buffers are transferred both ways, never copied: the plaintext chunk comes in and
 * goes back (zeroed) for the reader to fill again; the share chunks go out. Errors go back as `{ code,
 * message }` (a KofnError's class does not cross the thread boundary; its stable code does).
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ShareDecoder, ShareEncoder } from '../codec.js';
import { fileIdFromHex } from '../ids.js';
import { CompactEncoder } from '../compact.js';
import { TreeDecoder, TreeEncoder, looksLikeTree } from '../multilevel.js';
import type { WorkerReply, WorkerRequest } from './codec-pool.js';

/**
 * The codec leaves about 1 MiB of garbage per chunk (WebCrypto copies what it authenticates), and a worker
 * left to itself collects it late: measured, 2 workers x 40 chunks of (3,5), reused buffers: +85 MiB of
 * RSS left alone, +33 MiB with a young-generation collection every 4 chunks (a scavenge of a heap this small
 * takes well under a millisecond). `gc` is exposed the documented V8 way, for this isolate's use only.
 */
setFlagsFromString('--expose-gc');
// Again, from here (heap.ts says why): V8 flags are process-wide, and starting a worker's isolate undoes
// this one. Measured, 128 MiB retrieved: set on the main thread only, its new space still grew to 16 MiB
// (32 MiB at 1 GiB) once a worker had started; set again here, after this isolate exists, it stays at 2 MiB.
setFlagsFromString('--semi-space-growth-factor=1');
const collect = runInNewContext('gc') as (opts: { type: 'minor' | 'major' }) => void;
// Every 2 (was 4) since the retrieve figures of issue #20 item 1 (retrieve.ts IN_FLIGHT): 170-176 MiB against 175-192 MiB.
const COLLECT_EVERY = 2;
let calls = 0;

let encoder: ShareEncoder | CompactEncoder | TreeEncoder | undefined;
let decoder: ShareDecoder | TreeDecoder | undefined;

if (!parentPort) throw new Error('codec-worker.js runs as a worker thread of codec-pool.ts only.');
const port: MessagePort = parentPort;

// One request at a time: the encoder and decoder reuse one scratch buffer (codec.ts), and the pool keeps
// a worker's queue short anyway (it gives each chunk to the least busy worker).
let queue: Promise<void> = Promise.resolve();

port.on('message', (msg: WorkerRequest) => {
  queue = queue.then(() => answer(msg));
});

function answer(msg: WorkerRequest): Promise<void> {
  if (process.env.KOFN_MEMDEBUG && calls % 100 === 0) {
    const u = process.memoryUsage();
    const M = (x: number) => (x / 1048576).toFixed(0);
    process.stderr.write(`W${calls} rss ${M(u.rss)} heapTot ${M(u.heapTotal)} heapUsed ${M(u.heapUsed)} ext ${M(u.external)} ab ${M(u.arrayBuffers)}\n`);
  }
  if (++calls % COLLECT_EVERY === 0) collect({ type: 'minor' });
  return handle(msg).then(
    ({ reply, transfer }) => port.postMessage(reply, transfer),
    (err: unknown) => {
      const e = err as { code?: unknown; message?: unknown } | null;
      const reply: WorkerReply = { id: msg.id, error: { code: typeof e?.code === 'string' ? e.code : 'INTERNAL', message: typeof e?.message === 'string' ? e.message : String(err) } };
      port.postMessage(reply);
    }
  );
}

async function handle(msg: WorkerRequest): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> {
  switch (msg.op) {
    case 'initEncoder': {
      encoder?.wipe();
      const opts = { k: msg.k, xs: msg.xs, fileId: fileIdFromHex(msg.fileId), epoch: msg.epoch };
      // Compact mode (issue #23): AES-256-GCM + Reed-Solomon, the key being the file's AES-256 key.
      // A tree file (issue #21): both levels split here, share chunks in treeRelays order.
      encoder = msg.tree
        ? await TreeEncoder.create({ tree: msg.tree, fileId: opts.fileId, epoch: msg.epoch }, msg.macKey)
        : msg.mode === 'compact'
          ? await CompactEncoder.create(opts, msg.macKey)
          : await ShareEncoder.create(opts, msg.macKey);
      msg.macKey.fill(0);
      return { reply: { id: msg.id }, transfer: [] };
    }
    case 'encode': {
      if (!encoder) throw Object.assign(new Error('The encoder was not set up.'), { code: 'INTERNAL' });
      const shares = await encoder.encodeData(msg.index, msg.final, msg.data, msg.into);
      msg.data.fill(0);
      // Views into the lent buffers (or new ones): each goes back whole.
      return { reply: { id: msg.id, shares, data: msg.data }, transfer: [msg.data.buffer, ...new Set(shares.map((s) => s.buffer))] };
    }
    case 'initDecoder': {
      // A tree file's share chunks are version 3 (issue #21): its decoder lifts them to group shares first.
      decoder = looksLikeTree(msg.shares) ? new TreeDecoder() : new ShareDecoder();
      // The metadata chunk carries the file's MAC key; each worker rebuilds it itself (it is small).
      await decoder.decodeMetadata(msg.shares, { fileId: fileIdFromHex(msg.fileId), epoch: msg.epoch, k: msg.k });
      return { reply: { id: msg.id }, transfer: [] };
    }
    case 'decode': {
      if (!decoder) throw Object.assign(new Error('The decoder was not set up.'), { code: 'INTERNAL' });
      const d = await decoder.decodeData(msg.shares, { fileId: fileIdFromHex(msg.fileId), index: msg.index, epoch: msg.epoch, k: msg.k }, msg.into);
      // The share chunks go back too (moved, not copied): retrieve.ts reads the next chunks' shares into them.
      const lent = [...new Set(msg.shares.map((x) => x.buffer))].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer && b !== d.data.buffer);
      const shares = msg.shares as Array<Uint8Array<ArrayBuffer>>;
      return { reply: { id: msg.id, data: d.data, flags: d.flags, bad: d.bad, shares }, transfer: [d.data.buffer, ...lent] };
    }
  }
}
