/**
 * V8 settings for the relay process: main.ts imports this module first, so they apply before the other
 * modules load (loading alone grows the young generation from 1 to 8 MiB); tests that import the app
 * do not get them.
 *
 * Young generation kept at its initial size (`--semi-space-growth-factor=1`). A relay moves hundreds of MB
 * a second through Node's socket reads, each a fresh ArrayBuffer whose memory V8 counts as external. With
 * 16 uploads in flight, each upload's objects (request, context, promises) survive scavenges, so V8 kept
 * growing the young generation (to 16 MiB per semi-space) and scavenged ever more rarely; meanwhile 64 MB of
 * dead socket buffers piled up between scavenges and tripped V8's external-memory limit, which starts a
 * full mark-compact once the old generation is over 8 MB (the relay's is about 9 MB; a minimal node:http
 * server's is 5 MB, so the same limit only makes it scavenge). Measured with `--trace-gc` on the relay
 * benchmark's PUT phase (16 concurrent 4 MiB uploads): 34 mark-compacts and 16 scavenges before, 11 and
 * 148 after; the GC helper threads' CPU per MB fell from about 0.65 to 0.25 ms.
 *
 * The flag is read each time V8 considers growing the young generation (v8 src/heap/new-spaces.cc
 * `SemiSpaceNewSpace::Grow`), so setting it after start takes effect; Node documents
 * `v8.setFlagsFromString` for exactly this, with the caution that a flag may be ignored. An operator who
 * sets `--max-semi-space-size` in NODE_OPTIONS keeps control: the cap then applies as well.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--semi-space-growth-factor=1');

/**
 * Old generation allowed to grow to 5x its live size between mark-compacts (`--heap-growing-percent=400`;
 * V8's own factor, chosen from GC speed, was about 2x here: a 10 MB live heap, a 20 MB limit).
 *
 * Why (issue #14, relay PUT cost per byte): V8 counts external memory allocated since the last
 * mark-compact against the old generation's limit (`Heap::OldGenerationSpaceAvailable`, v8 11.3
 * src/heap/heap.cc). Every socket read of an upload is a fresh 64 KiB ArrayBuffer (node:http's parser
 * copies each body piece, `Buffer::Copy` in node_http_parser.cc), dead as soon as ingest has hashed and
 * copied it; a scavenge frees it, and V8 scavenges for external memory once 32 MB of young ArrayBuffers
 * pile up (`Heap::AllocateExternalBackingStore`: twice the 16 MiB default maximum semi-space). With a
 * 20 MB limit over a 10 MB heap, 10 MB of not-yet-scavenged socket buffers was enough to start
 * incremental marking: 23 mark-compacts and 29 scavenges per 400 MB uploaded, 16 concurrent
 * (`--trace-gc`). With the slack above 32 MB the scavenge comes first: 1 mark-compact and 12 scavenges,
 * like the minimal node:http baseline (1 and 12); the relay's user CPU per MB fell from 3.3 to 2.1 ms.
 * Memory: the relay's live heap is small (streams, a token cache, metrics), so 5x is tens of MB; the
 * relay benchmark's peak-RSS check (32 concurrent 4 MiB uploads, target < 150 MB) covers it. Like the
 * flag above it is read whenever V8 computes a limit (after each mark-compact), so setting it here works.
 */
setFlagsFromString('--heap-growing-percent=400');
