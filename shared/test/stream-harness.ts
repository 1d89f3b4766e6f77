/**
 * Drives the protect and retrieve streams (src/streams.ts) the way a reader and a writer would, for the
 * suites that round-trip files through them (streams.test.ts for Shamir, compact.test.ts for compact mode).
 */
import { createProtectStream, createRetrieveStream, type EncodedChunk, type ProtectOptions, type ShareSet } from '../src/streams.js';
import { seededSource } from '../src/testing.js';

/** Protects `data` fed in pieces of `piece` bytes (uneven pieces exercise the chunker's boundaries). */
export async function protectInPieces(data: Uint8Array, options: ProtectOptions, piece: number): Promise<{ fileId: Uint8Array; chunks: EncodedChunk[] }> {
  const p = await createProtectStream(options);
  const writing = (async () => {
    const w = p.writable.getWriter();
    for (let off = 0; off < data.length; off += piece) await w.write(data.subarray(off, off + piece));
    await w.close();
  })();
  const chunks: EncodedChunk[] = [];
  for await (const c of p.readable) chunks.push(c);
  await writing;
  return { fileId: options.fileId, chunks };
}

export interface Outcome {
  data: Uint8Array;
  /** The code of the error the readable side ended with ('NO_CODE' for one without). */
  error?: string;
  /** Chunks whose shares failed authentication: [chunk index, share positions]. */
  bad: Array<[number, number[]]>;
}

/** Feeds share sets to a retrieve stream and collects what it releases, and the error it ends with. */
export async function retrieveSets(sets: ShareSet[], fileId: Uint8Array, opts: { epoch?: number } = {}): Promise<Outcome> {
  const bad: Array<[number, number[]]> = [];
  const r = createRetrieveStream({ fileId, ...opts, onBadShares: (i, pos) => bad.push([i, pos]) });
  const parts: Uint8Array[] = [];
  const writing = (async () => {
    const w = r.writable.getWriter();
    try {
      for (const s of sets) await w.write(s);
      await w.close();
    } catch {
      // the readable side reports the error
    }
  })();
  let error: string | undefined;
  try {
    for await (const c of r.readable) parts.push(c);
  } catch (err) {
    error = (err as { code?: string }).code ?? 'NO_CODE';
  }
  await writing;
  return { data: Buffer.concat(parts), bad, ...(error ? { error } : {}) };
}

/** The share sets a reader would fetch: shares at positions `pick` of every chunk. */
export const pickSets = (chunks: EncodedChunk[], pick: number[]): ShareSet[] => chunks.map((c) => ({ index: c.index, shares: pick.map((j) => c.shares[j]!) }));

export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b));

/** One share chunk with one byte changed, and the share sets a reader holding `pick` would then fetch. */
export interface ByteChange {
  chunk: number;
  share: number;
  byte: number;
  tampered: Uint8Array;
  sets: ShareSet[];
}

/**
 * Every single-byte change to every share at positions `pick` of every chunk, each by a non-zero delta
 * drawn from a seeded source (so a failure names a case that can be replayed).
 */
export function* singleByteChanges(chunks: EncodedChunk[], pick: number[], seed: number): Generator<ByteChange> {
  const deltas = seededSource(seed);
  for (let c = 0; c < chunks.length; c++) {
    for (const j of pick) {
      const original = chunks[c]!.shares[j]!;
      for (let b = 0; b < original.length; b++) {
        const d = new Uint8Array(1);
        do deltas.fill(d);
        while (d[0] === 0);
        const tampered = original.slice();
        tampered[b]! ^= d[0]!;
        const sets = pickSets(chunks, pick);
        sets[c] = { index: c, shares: sets[c]!.shares.map((s) => (s === original ? tampered : s)) };
        yield { chunk: c, share: j, byte: b, tampered, sets };
      }
    }
  }
}
