/**
 * `node dist/bench/compact-bench.js`: compact mode against Shamir in a fresh Node process (compact-suite.ts),
 * printed as one JSON line for bench.ts, or as the table with --print.
 */
import { loadavg } from 'node:os';
import { formatCompactBench, runCompactBench } from './compact-suite.js';

const result = { ...(await runCompactBench(`node ${process.version}`, 5, (s) => process.stderr.write(`  … ${s}\n`))), loadAfter: loadavg() };
process.stdout.write(process.argv.includes('--print') ? `${formatCompactBench(result)}\n` : `${JSON.stringify(result)}\n`);
