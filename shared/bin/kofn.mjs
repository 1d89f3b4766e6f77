#!/usr/bin/env node
// The `kofn` command (issue #20). This small launcher is committed (dist/ is not), so `npm ci` links the
// command into node_modules/.bin on a fresh clone and `npx kofn` runs this project's client instead of
// fetching a package of the same name from the registry (as kofn-recover, issue #14).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('kofn: not built yet: run `npm run build` in the project first.\n');
  process.exit(2);
}
await import(cli.href);
