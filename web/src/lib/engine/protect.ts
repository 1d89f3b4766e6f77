/**
 * Protect one file: reserve with the coordinator, read the File as a stream of chunks, split each in the
 * worker pool, PUT every share chunk to its relay (chunks in flight are bounded, so memory does not grow
 * with the file), then commit with one digest root per relay. Cancelling aborts requests, stops the
 * workers and removes the reservation, so nothing stays behind.
 */
import * as Comlink from 'comlink';
import { createChunker, digestRoot, randomBytes, type MetadataRecord } from '@kofn/shared';
import { api } from '$lib/api';
import { WorkerPool } from './pool';
import { putShare } from './relay-http';

export interface Reservation {
  fileId: string;
  k: number;
  n: number;
  chunkSize: number;
  chunkCount: number;
  epoch: number;
  placements: Array<{ relayId: string; name: string; url: string; x: number; token: string }>;
}

export interface ProtectProgress {
  /** Plaintext bytes whose shares every relay has acknowledged. */
  done: number;
  total: number;
  /** Share bytes acknowledged per relay id. */
  perRelay: Record<string, number>;
}

export interface ProtectOptions {
  k: number;
  relays?: string[];
  signal?: AbortSignal;
  onReserved?: (r: Reservation) => void;
  onProgress?: (p: ProtectProgress) => void;
}

/** Chunks being split or uploaded at once: enough to keep workers and network busy, small for memory. */
const IN_FLIGHT = 4;

export async function protectFile(file: File, opts: ProtectOptions): Promise<{ fileId: string }> {
  const r = await api<Reservation>('POST', '/api/files', {
    name: file.name,
    size: file.size,
    type: file.type,
    k: opts.k,
    ...(opts.relays ? { relays: opts.relays } : {})
  });
  opts.onReserved?.(r);
  const pool = new WorkerPool();
  const abort = () => pool.terminate();
  opts.signal?.addEventListener('abort', abort, { once: true });
  const tokens = new Map(r.placements.map((p) => [p.relayId, p.token]));
  const digests = r.placements.map(() => new Array<string>(r.chunkCount + 1));
  const progress: ProtectProgress = { done: 0, total: file.size, perRelay: Object.fromEntries(r.placements.map((p) => [p.relayId, 0])) };
  try {
    const macKey = randomBytes(32) as Uint8Array<ArrayBuffer>;
    await pool.each((w) => w.initEncoder({ k: r.k, xs: r.placements.map((p) => p.x), fileId: r.fileId, epoch: r.epoch, macKey }));
    const meta: MetadataRecord = { name: file.name, size: file.size, type: file.type || 'application/octet-stream', chunkSize: r.chunkSize, chunkCount: r.chunkCount, createdAt: Date.now(), macKey };

    const upload = async (index: number, shares: Uint8Array<ArrayBuffer>[], plainBytes: number) => {
      await Promise.all(
        r.placements.map(async (p, j) => {
          digests[j]![index] = await putShare(p.url, p.relayId, r.fileId, index, () => tokens.get(p.relayId)!, shares[j]!, opts.signal);
          progress.perRelay[p.relayId]! += shares[j]!.byteLength;
        })
      );
      progress.done += plainBytes;
      opts.onProgress?.({ ...progress, perRelay: { ...progress.perRelay } });
    };

    await upload(0, await pool.run((w) => w.encodeMetadata(meta)), 0);
    macKey.fill(0);

    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    let index = 0;
    const reader = file.stream().pipeThrough(createChunker(r.chunkSize)).getReader();
    const renewTokens = setInterval(() => void refreshTokens(r.fileId, tokens), 10 * 60_000);
    try {
      for (;;) {
        if (failure) throw failure;
        if (opts.signal?.aborted) throw opts.signal.reason;
        const { done, value } = await reader.read();
        if (done) break;
        index += 1;
        const i = index;
        const length = value.byteLength;
        const task = pool
          .run((w) => w.encodeData(i, i === r.chunkCount, Comlink.transfer(value, [value.buffer])))
          .then((shares) => upload(i, shares, length))
          .catch((err: unknown) => {
            failure ??= err;
          });
        const tracked = task.finally(() => inflight.delete(tracked));
        inflight.add(tracked);
        if (inflight.size >= IN_FLIGHT) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      if (failure) throw failure;
    } finally {
      clearInterval(renewTokens);
      await reader.cancel().catch(() => undefined);
    }
    const roots: Record<string, string> = {};
    for (const [j, p] of r.placements.entries()) roots[p.relayId] = await digestRoot(digests[j]!);
    await api('POST', `/api/files/${r.fileId}/commit`, { roots });
    return { fileId: r.fileId };
  } catch (err) {
    // Leave nothing behind: the coordinator's deletion job removes any chunk already stored.
    await api('DELETE', `/api/files/${r.fileId}`).catch(() => undefined);
    throw err;
  } finally {
    opts.signal?.removeEventListener('abort', abort);
    pool.terminate();
  }
}

async function refreshTokens(fileId: string, tokens: Map<string, string>): Promise<void> {
  const { tokens: fresh } = await api<{ tokens: Array<{ relayId: string; token: string }> }>('POST', `/api/files/${fileId}/tokens`, { op: 'put' });
  for (const t of fresh) tokens.set(t.relayId, t.token);
}
