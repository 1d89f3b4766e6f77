#!/usr/bin/env node
// The `kofn-recover` command. This small launcher is committed (dist/ is not), so `npm ci` links the
// command into node_modules/.bin on a fresh clone and `npx kofn-recover` runs this project's tool instead
// of fetching a package of the same name from the registry (issue #14).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/recover-cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('kofn-recover: not built yet: run `npm run build` in the project first.\n');
  process.exit(2);
}
await import(cli.href);
