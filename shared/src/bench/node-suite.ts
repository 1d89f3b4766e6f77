/** Runs the kernel suite in this Node process and prints the result as one JSON line (for bench.ts). */
import { split, combine } from 'shamir-secret-sharing';
import { runSuite } from './suite.js';

const flags = process.execArgv.filter((a) => a.startsWith('--experimental-wasm')).join(' ');
const result = await runSuite(`node ${process.version}${flags ? ` ${flags}` : ' (default flags)'}`, { split, combine }, (s) => process.stderr.write(`  … ${s}\n`));
process.stdout.write(`${JSON.stringify(result)}\n`);
