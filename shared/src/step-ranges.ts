/**
 * Chunk ranges for the relays' long steps (issue #16 item "long silent steps"): a renewal's deal, prepare
 * and check and a repair's collect each walk a file's chunks inside one HTTP request, and the request is
 * silent until the relay answers. A relay cuts a connection after 60 s of silence (relay/src/server-limits.ts
 * `idleTimeout`), so a large file's step, done whole, was cut; the coordinator now asks for one range of
 * chunks per request, each bounded by `STEP_SHARE_BYTES`, and every range's answer comes well before the cut.
 *
 * 16 MiB per step: 16 chunks at the default 1 MiB chunk size, so a step stays far from the cut even at a
 * few MB/s (a relay on a slow disk or S3), and one chunk of a file cut in larger chunks (a chunk is never
 * split: 64 MiB at most, which a relay stores within its 120 s request limit). The round trip a range adds
 * is a few milliseconds against the 16 MiB it carries.
 */
export const STEP_SHARE_BYTES = 16 * 1024 * 1024;

/** An inclusive range of chunk indexes. */
export type ChunkRange = readonly [from: number, to: number];

/**
 * The ranges covering chunks 0..chunkCount (chunk 0 is the metadata record) in order, each holding at most
 * `budgetBytes` of share chunks of `shareChunkBytes` each, and at least one chunk.
 */
export function chunkRanges(chunkCount: number, shareChunkBytes: number, budgetBytes = STEP_SHARE_BYTES): ChunkRange[] {
  if (!Number.isSafeInteger(chunkCount) || chunkCount < 0) throw new RangeError(`"chunkCount" expected integer >= 0, got ${chunkCount}`);
  if (!Number.isSafeInteger(shareChunkBytes) || shareChunkBytes < 1) throw new RangeError(`"shareChunkBytes" expected integer >= 1, got ${shareChunkBytes}`);
  if (!Number.isSafeInteger(budgetBytes) || budgetBytes < 1) throw new RangeError(`"budgetBytes" expected integer >= 1, got ${budgetBytes}`);
  const per = Math.max(1, Math.floor(budgetBytes / shareChunkBytes));
  const out: ChunkRange[] = [];
  for (let from = 0; from <= chunkCount; from += per) out.push([from, Math.min(chunkCount, from + per - 1)]);
  return out;
}
