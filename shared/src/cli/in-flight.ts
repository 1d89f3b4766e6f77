/**
 * How many chunks a transfer keeps in flight: bounded by bytes, not by a count alone, so memory stays flat
 * whatever the threshold, the number of relays and the chunk size (issue #20: 10 GiB through a pipe with
 * RSS < 200 MB, for the whole process: this thread and the codec workers).
 *
 * What one chunk in flight holds, counted by the callers (protect.ts, retrieve.ts): its plaintext, its share
 * chunks, and a second copy of each share chunk on the network side: fetch copies a request body given as
 * bytes (the Fetch standard, "extract a body": "a copy of the bytes held by object"), and a response read
 * in pieces is joined into one buffer (protocol/bounded-read.ts).
 */
const MiB = 1024 * 1024;

/**
 * The budget. Measured, 512 MiB protected with (3,5) through a pipe on 2 loaded cores, 1 worker: 4 chunks
 * in flight (44 MiB by the count above) peaked at 171 MiB RSS, 3 chunks (33 MiB) at 161 MiB, and were no
 * slower (46-47 s against 51 s in the same run). Retrieve keeps 6 chunks of (3,5) in flight (42 MiB) for
 * its speed (retrieve.ts); both fit in this budget.
 */
export const IN_FLIGHT_BYTES = 42 * MiB;

/**
 * Chunks in flight: `wanted` (what keeps the relays and workers busy), fewer if each chunk holds
 * `bytesPerChunk` and they would not fit in IN_FLIGHT_BYTES, and always at least one.
 */
export function chunksInFlight(wanted: number, bytesPerChunk: number, budget = IN_FLIGHT_BYTES): number {
  return Math.max(1, Math.min(wanted, Math.floor(budget / Math.max(1, bytesPerChunk))));
}
