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
