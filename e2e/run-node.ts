/**
 * Runs a Node script (the `kofn` CLI, kofn-backup.mjs, ...) as its own process, feeds it `input` on
 * standard input and collects what it printed: the one spawn-and-collect helper of the e2e specs.
 */
import { spawn } from 'node:child_process';

export interface NodeRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export function runNode(script: string, args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string; input?: string } = {}): Promise<NodeRun> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('error', rej);
    child.once('close', (code) => res({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(opts.input ?? '');
  });
}
