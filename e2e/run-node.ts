/**
 * Runs a Node script (the `kofn` CLI, kofn-backup.mjs, ...) as its own process, feeds it `input` on
 * standard input and collects what it printed: the one spawn-and-collect helper of the e2e specs.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface NodeRun {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface NodeRunOptions {
  /** Added to (or, with `undefined`, removed from) this process's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: Buffer | string;
  /** Called with all of standard error so far on every piece of it (to interrupt a run at a given point). */
  onStderr?: (stderr: string, child: ChildProcess) => void;
  /** Called with the process as soon as it is spawned (to watch it: e2e/paused-ranking.ts). */
  onSpawn?: (child: ChildProcess) => void;
}

export function runNode(script: string, args: string[], opts: NodeRunOptions = {}): Promise<NodeRun> {
  return new Promise((res, rej) => {
    const env = Object.fromEntries(Object.entries({ ...process.env, ...opts.env }).filter(([, value]) => value !== undefined));
    const child = spawn(process.execPath, [script, ...args], { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    opts.onSpawn?.(child);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      opts.onStderr?.(err, child);
    });
    child.once('error', rej);
    child.once('close', (code) => res({ code, stdout: Buffer.concat(out), stderr: err }));
    // A command that exits before reading all its input (a refusal) closes the pipe: not a test failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}
