/**
 * Young-generation collections paced by the bytes a relay receives (issue #14, PUT).
 *
 * Why (measured with `--trace-gc` on 96 uploads of 4 MiB, 16 at once): every piece of a request body is a
 * fresh Buffer that Node's HTTP parser copies out of its read buffer, memory V8 counts as external. The
 * pieces die as soon as ingest has hashed and copied them (ingest.ts), but they are freed only by a
 * garbage collection, and so little JavaScript heap is allocated per piece that the young generation
 * fills (and a scavenge runs) only every few hundred MB. Meanwhile the dead pieces reach V8's external
 * memory limit (64 MB above the level after the last full collection) and V8 answers with a full
 * mark-compact of the whole heap: about 20 per 400 MB uploaded, against a handful for a minimal node:http
 * server whose smaller heap makes the same trigger cheap. A scavenge frees those pieces too, at a small
 * fraction of the cost (about 0.15 ms with the relay's 1 MiB semi-spaces), so one is asked for every
 * SCAVENGE_EVERY_BYTES received, well before the limit.
 *
 * Off unless main.ts turns it on (runtime-tuning.ts): tests that import the app keep V8's own pacing.
 */

/** Bytes received between two requested scavenges: a quarter of V8's 64 MB external-memory step. */
export const SCAVENGE_EVERY_BYTES = 16 * 1024 * 1024;

let scavenge: (() => void) | undefined;
let received = 0;

/** Turns pacing on with `collect` (a minor GC); runtime-tuning.ts does this for the relay process. */
export function paceScavenges(collect: () => void): void {
  scavenge = collect;
}

/** Called by ingest for every body piece; runs a scavenge once SCAVENGE_EVERY_BYTES have arrived. */
export function bytesReceived(n: number): void {
  if (!scavenge) return;
  received += n;
  if (received < SCAVENGE_EVERY_BYTES) return;
  received = 0;
  scavenge();
}
