/**
 * The `kofn` process's V8 heap, kept small so the whole process (this thread and the codec workers) stays
 * under issue #20's bound (10 GiB through a pipe with RSS < 200 MB).
 *
 * Why: a transfer allocates fast (response pieces, promises, views), and V8 answers fast allocation by
 * growing the young generation's semi-spaces up to 16 MiB each (48 MiB with the intermediate space), which
 * then stand in RSS though a few MiB are live. Measured on this thread, 1 GiB retrieved through a pipe:
 * heapTotal 43 MiB for heapUsed 9 MiB. `--semi-space-growth-factor=1` keeps the semi-spaces at their
 * initial size; V8 reads it at each growth decision, so setting it at run time (v8.setFlagsFromString,
 * before the first transfer) takes effect, as `--max-semi-space-size` would not (read once at start-up).
 * Collections get more frequent, not longer: what lives in the young generation is a few MiB.
 * `--expose-gc` gives this isolate `gc` (the documented V8 way) for collectYoung below.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--semi-space-growth-factor=1');
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (opts: { type: 'minor' | 'major' }) => void;

/**
 * A young-generation collection: the transfer loops call it every chunk, because this thread leaves about
 * a chunk of garbage per chunk (the socket's pieces of each body) that is external memory (ArrayBuffers
 * outside the V8 heap) a late collection leaves in RSS. Cheap: the young generation is a few MiB.
 */
export function collectYoung(): void {
  gc({ type: 'minor' });
}
