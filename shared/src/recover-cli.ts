#!/usr/bin/env node
/**
 * kofn-recover [--out DIR] RELAY_DIR...
 * Rebuilds every file whose shares are found in at least k of the given relay data folders.
 */
import { recoverDirectories } from './recover.js';

const args = process.argv.slice(2);
let out = 'recovered';
const dirs: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') out = args[++i] ?? out;
  else if (args[i] === '--help' || args[i] === '-h') {
    process.stdout.write('usage: kofn-recover [--out DIR] RELAY_DIR...\n');
    process.exit(0);
  } else dirs.push(args[i]!);
}
if (dirs.length === 0) {
  process.stderr.write('usage: kofn-recover [--out DIR] RELAY_DIR...\n');
  process.exit(2);
}
const results = await recoverDirectories(dirs, out);
let failed = 0;
for (const r of results) {
  if (r.error) {
    failed++;
    process.stdout.write(`FAILED ${r.fileId}${r.name ? ` (${r.name})` : ''}: ${r.error.message} [${r.error.code}]\n`);
  } else {
    process.stdout.write(`ok     ${r.fileId} -> ${r.path} (${r.size} bytes)\n`);
  }
  for (const b of r.badShares) process.stdout.write(`       corrupt share: ${b}\n`);
}
process.stdout.write(`${results.length - failed} recovered, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
