#!/usr/bin/env node
/**
 * kofn-recover [--out DIR] RELAY_DIR...
 * Rebuilds every file whose shares are found in at least k of the given relay data folders, and writes
 * a manifest (kofn-recover-manifest.json) naming every problem share with its relay folder. The code is
 * recover-command.ts, which `kofn recover` runs too.
 */
import { runRecover } from './recover-command.js';

process.exit(await runRecover(process.argv.slice(2)));
