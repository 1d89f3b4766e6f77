/**
 * The `kofn` command-line client as the e2e specs run it: the real launcher `shared/bin/kofn.mjs` as a child
 * process with a config folder of the spec's own, plus what every CLI spec checks of its output. One place,
 * so that the CLI specs (cli, cli-modes, cli-folders, api-tokens, ops-*) run the command the same way.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect } from '@playwright/test';
import { ADMIN } from './fixtures.js';
import { runNode, type NodeRun, type NodeRunOptions } from './run-node.js';
import { startStack, type RunningStack, type StackOptions } from './stack.js';

export const KOFN_BIN = resolve(import.meta.dirname, '../shared/bin/kofn.mjs');

export type KofnRun = (args: string[], opts?: NodeRunOptions) => Promise<NodeRun>;

/**
 * A `kofn` runner working in `work` with the config folder `configDir`. A `KOFN_TOKEN` in the test runner's
 * own environment never leaks into the command (the specs that need one pass it).
 */
export function kofnIn(work: string, configDir = join(work, 'config')): KofnRun {
  return (args, opts = {}) => runNode(KOFN_BIN, args, { cwd: work, ...opts, env: { KOFN_TOKEN: undefined, KOFN_CONFIG_DIR: configDir, ...opts.env } });
}

/**
 * A CLI spec's stack of its own (`opts`), its administrator made through the API and `kofn login` done as that
 * administrator by `kofn`: signing in is cli.spec.ts's subject, elsewhere only the way in.
 */
export async function signedInCliStack(opts: StackOptions, kofn: KofnRun): Promise<RunningStack> {
  const stack = await startStack(opts);
  const res = await fetch(`${stack.url}/api/setup`, { method: 'POST', headers: { origin: stack.url, 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
  expect(res.status).toBe(201);
  const login = await kofn(['login', stack.url, '--email', ADMIN.email, '--password-stdin'], { input: `${ADMIN.password}\n` });
  expect(login.code, login.stderr).toBe(0);
  return stack;
}

export const sha256Hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A file of `size` random bytes in `work`, with its digest. */
export function randomFile(work: string, name: string, size: number): { path: string; sha256: string; data: Buffer } {
  const data = randomBytes(size);
  const path = join(work, name);
  writeFileSync(path, data);
  return { path, sha256: sha256Hex(data), data };
}

/** What a CLI error must look like: one line, `kofn: message [CODE]`, the documented exit code, no stack frames. */
export function expectCleanError(r: NodeRun, code: string, exit: number): void {
  expect(r.code, r.stderr).toBe(exit);
  expect(r.stderr).toContain(`[${code}]`);
  expect(r.stderr).toMatch(/^kofn: /m);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}
