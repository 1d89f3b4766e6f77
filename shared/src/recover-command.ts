/**
 * The offline recovery command, as a function: `kofn-recover ARGS` and `kofn recover ARGS` both run this
 * (issue #20: one implementation). Answers the exit code: 0 all recovered, 1 some failed, 2 bad input.
 */
import { hasErrorCode } from './errors.js';
import { recoverDirectories, type RecoveryReport } from './recover.js';

export const RECOVER_USAGE = 'usage: kofn-recover [--out DIR] RELAY_DIR...\n';

export async function runRecover(args: readonly string[], usage = RECOVER_USAGE): Promise<number> {
  let out = 'recovered';
  const dirs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') out = args[++i] ?? out;
    else if (args[i] === '--help' || args[i] === '-h') {
      process.stdout.write(usage);
      return 0;
    } else dirs.push(args[i]!);
  }
  if (dirs.length === 0) {
    process.stderr.write(usage);
    return 2;
  }

  let report: RecoveryReport;
  try {
    report = await recoverDirectories(dirs, out);
  } catch (err) {
    // A missing or unreadable folder is the operator's input: say so plainly, without a stack trace.
    const message = hasErrorCode(err) ? err.message : `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${(err as Error).message}`;
    process.stderr.write(`kofn-recover: ${message}\n`);
    return 2;
  }
  let failed = 0;
  const say = (line: string): boolean => process.stdout.write(`${line}\n`);
  for (const r of report.files) {
    if (r.error) {
      failed++;
      say(`FAILED ${r.fileId}${r.name ? ` (${r.name})` : ''}: ${r.error.message} [${r.error.code}]`);
    } else {
      say(`ok     ${r.fileId} -> ${r.path} (${r.size} bytes)${r.renamed ? `; ${r.renamed} (full name in the manifest)` : ''}`);
    }
    for (const g of r.remoteGroups ?? []) say(`       group ${g.groupX} on another deployment: its file ${g.fileId} at epoch ${g.epoch} (${g.relayDirs.join(', ')})`);
    for (const b of r.badShares) say(`       corrupt share: ${b}`);
    for (const d of r.droppedShares) say(`       dropped share in ${d.relayDir}: ${d.path}: ${d.reason}`);
    for (const m of r.missingChunks) say(`       missing in ${m.relayDir}: chunk${m.indexes.length > 1 ? 's' : ''} ${m.indexes.join(', ')}`);
  }
  for (const u of report.unattributed) say(`ignored in ${u.relayDir}: ${u.path}: ${u.reason}`);
  say(`manifest: ${report.manifestPath}`);
  say(`${report.files.length - failed} recovered, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}
