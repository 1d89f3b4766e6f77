/**
 * heap.ts keeps the young generation of the `kofn` process at its initial size, also once a codec worker has
 * started (codec-worker.ts sets the flag again). Run in a child process, a fresh Node with no flags, on the
 * built modules (dist/, as `kofn` runs them; `npm test -w shared` builds first): a flag set here would leak
 * into the test runner, and V8 reads these flags for the whole process.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dist = new URL('../../dist/cli/', import.meta.url).href;

/** Allocates short-lived objects fast (as a transfer does) and answers the main thread's new space in MiB. */
const probe = (setup: string) => `
import { getHeapSpaceStatistics } from 'node:v8';
${setup}
let keep = [];
for (let i = 0; i < 1e6; i++) { keep.push({ i, a: [i] }); if (keep.length > 20000) keep = []; }
const s = getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
process.stdout.write(String(s.space_size / 1048576));
process.exit(0);
`;

// A file, not -e: a worker inherits the process's flags, and --input-type is refused in a worker.
const dir = mkdtempSync(join(tmpdir(), 'kofn-heap-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let probes = 0;

async function newSpaceMiB(setup: string): Promise<number> {
  const file = join(dir, `probe-${++probes}.mjs`);
  writeFileSync(file, probe(setup));
  const { stdout } = await run(process.execPath, [file], { timeout: 60_000 });
  return Number(stdout);
}

describe('heap', () => {
  it("keeps this thread's young generation small, also after a codec worker started, where V8's default grows it", async () => {
    // Waits for the worker's first answer: its module (which sets the flag again) has run by then.
    const startWorker = `const { CodecPool } = await import('${dist}codec-pool.js'); const pool = new CodecPool(1);
      await pool.initEncoder({ k: 2, xs: [1, 2], fileId: '00'.repeat(16), epoch: 0 }, new Uint8Array(32));`;
    const [bare, kept, withWorker] = await Promise.all([newSpaceMiB(''), newSpaceMiB(`await import('${dist}heap.js');`), newSpaceMiB(`await import('${dist}heap.js'); ${startWorker}`)]);
    // The default grows the semi-spaces under this load (16 MiB each at most): the probe does load it.
    console.log({ bare, kept, withWorker });
    expect(bare).toBeGreaterThan(8);
    expect(kept).toBeLessThanOrEqual(4);
    expect(withWorker).toBeLessThanOrEqual(4);
  });
});
