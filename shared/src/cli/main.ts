#!/usr/bin/env node
/**
 * The `kofn` command (issue #20). Dispatches to commands.ts; turns every error into one line on stderr
 * with its stable code and a documented exit code (help.ts), never a stack trace. Ctrl-C aborts the
 * running operation through one AbortSignal (uploads are removed, partial downloads deleted); a second
 * Ctrl-C exits at once.
 */
// First: the heap's settings apply before anything allocates (heap.ts).
import './heap.js';
import { setMaxListeners } from 'node:events';
import { KofnError, hasErrorCode } from '../errors.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import * as commands from './commands.js';
import { HELP } from './help.js';
import { completionScript } from './completion.js';

const table: Record<string, (args: string[], io: commands.Io) => Promise<number>> = {
  login: commands.login,
  logout: commands.logout,
  ls: commands.ls,
  protect: commands.protectCommand,
  retrieve: commands.retrieveCommand,
  rm: commands.rm,
  share: commands.share,
  link: commands.link,
  check: commands.check,
  completion: async (args, io) => {
    io.stdout.write(completionScript(args[0]));
    return EXIT.ok;
  },
  status: commands.status,
  recover: (args) => commands.recover(args)
};

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP[args[0] ?? ''] ?? HELP.main ?? '');
    return name === undefined ? EXIT.input : EXIT.ok;
  }
  if (name === '--version') {
    const { KOFN_VERSION } = await import('../version.js');
    process.stdout.write(`kofn ${KOFN_VERSION}\n`);
    return EXIT.ok;
  }
  const run = table[name];
  if (!run) {
    process.stderr.write(`kofn: unknown command ${JSON.stringify(name)} (see \`kofn --help\`) [CLI_USAGE]\n`);
    return EXIT.input;
  }
  if (name !== 'recover' && (args.includes('--help') || args.includes('-h'))) {
    process.stdout.write(HELP[name]!);
    return EXIT.ok;
  }
  const controller = new AbortController();
  // Every request in flight listens to this one signal (protocol/relay-client.ts removes its listener when
  // it ends): chunks in flight x relays is more than Node's default of 10 before it warns of a leak, which
  // a user would see on stderr. The bound: in-flight.ts's chunks times the relays of a file, with room.
  setMaxListeners(256, controller.signal);
  // `as boolean`: the SIGINT handler sets it, which TypeScript's narrowing does not see.
  let interrupted = false as boolean;
  const onSigint = () => {
    if (interrupted) process.exit(EXIT.cancelled);
    interrupted = true;
    process.stderr.write('\nkofn: cancelling (Ctrl-C again to quit at once)\n');
    controller.abort(Object.assign(new Error('Cancelled.'), { code: 'CANCELLED' }));
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  // The reader of standard output went away (`kofn retrieve x -o - | head -c 100`, a `tar x` that failed):
  // Node ignores SIGPIPE, so each write fails with EPIPE and, with no listener, the stream's 'error' event
  // brought the process down with a stack trace. Stop the operation instead, as Ctrl-C does, and say why.
  let outputClosed = false as boolean;
  const onStdoutError = (err: NodeJS.ErrnoException) => {
    if (outputClosed) return;
    outputClosed = true;
    controller.abort(new KofnError('OUTPUT_CLOSED', `Standard output was closed before the end (${err.code ?? 'error'}); nothing more was written.`));
  };
  process.stdout.on('error', onStdoutError);
  try {
    return await run(args, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signal: controller.signal });
  } catch (err) {
    if (outputClosed) {
      process.stderr.write(`kofn: ${(controller.signal.reason as Error).message} [OUTPUT_CLOSED]\n`);
      return exitCodeFor('OUTPUT_CLOSED');
    }
    if (interrupted || controller.signal.aborted) {
      process.stderr.write('kofn: cancelled [CANCELLED]\n');
      return EXIT.cancelled;
    }
    if (hasErrorCode(err)) {
      process.stderr.write(`kofn: ${err.message} [${err.code}]\n`);
      // protect and retrieve keep what they did when the network failed (issue #20, resumable).
      if ((err as { resumable?: boolean }).resumable) process.stderr.write('kofn: what was transferred is kept: run the same command again to continue.\n');
      return exitCodeFor(err.code);
    }
    // Not one of ours (a bug, or the OS refusing a write): the message, never the stack.
    const e = err instanceof Error ? (err as NodeJS.ErrnoException) : undefined;
    process.stderr.write(`kofn: ${e?.message ?? String(err)} [${e?.code ?? 'INTERNAL'}]\n`);
    if (process.env.KOFN_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    return EXIT.failed;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

const code = await main(process.argv.slice(2));
// Let stdout drain (a pipe to tar) before leaving; a closed one has nothing left to drain.
if (process.stdout.destroyed || !process.stdout.writable) process.exit(code);
else process.stdout.write('', () => process.exit(code));
