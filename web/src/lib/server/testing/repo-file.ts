/**
 * A file of the repository outside web/ (relay/dist/main.js, shared/bin/kofn-recover.mjs) for the test
 * helpers that start it. Found by walking up from this folder rather than by a fixed number of `..`:
 * Stryker runs the suites from a copy of web/ at web/.stryker-tmp/sandbox-<id>/ (stryker/README.md), two
 * levels deeper, where a fixed path named a file that does not exist and every relay "exited early (1)".
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function repoFile(relative: string, from: string = import.meta.dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`${relative} not found above ${from}: build it first (npm run build -w shared -w relay)`);
  }
}
