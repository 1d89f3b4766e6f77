#!/usr/bin/env node
/**
 * `npm start`: build what changed since the last build, with one short line per step (the build's own
 * output only when it fails), check the ports are free, then run the one-machine stack (stack.mjs).
 *
 * A package is rebuilt when any of its inputs (sources, scripts, configuration, its package.json, or a
 * package it depends on that was just rebuilt) is newer than the stamp its last successful build left.
 * Arguments are passed on to stack.mjs.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const PACKAGES = [
  { name: 'shared', dir: 'shared', inputs: ['src', 'scripts', 'package.json', 'tsconfig.json'], output: 'shared/dist', deps: [] },
  { name: 'relay', dir: 'relay', inputs: ['src', 'package.json', 'tsconfig.json'], output: 'relay/dist', deps: ['shared'] },
  {
    name: 'web app',
    dir: 'web',
    inputs: ['src', 'static', 'package.json', 'svelte.config.js', 'vite.config.ts', 'tsconfig.json'],
    output: 'web/build',
    deps: ['shared']
  }
];
const STAMP = '.kofn-build-stamp';

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let newest = s.mtimeMs;
  for (const e of readdirSync(path, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.svelte-kit')) continue;
    newest = Math.max(newest, newestMtime(join(path, e.name)));
  }
  return newest;
}

function run(cmd, args, cwd) {
  return new Promise((res) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('exit', (code) => res({ code: code ?? 1, output }));
  });
}

async function buildIfNeeded() {
  const rebuilt = new Set();
  for (const p of PACKAGES) {
    const stamp = join(root, p.output, STAMP);
    const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
    const changed = Math.max(...p.inputs.map((i) => newestMtime(join(root, p.dir, i))));
    if (built > 0 && changed <= built && !p.deps.some((d) => rebuilt.has(d))) {
      process.stdout.write(`kofn: ${p.name} is up to date\n`);
      continue;
    }
    process.stdout.write(`kofn: building ${p.name}…`);
    const t0 = Date.now();
    const { code, output } = await run('npm', ['run', 'build', '--silent'], join(root, p.dir));
    if (code !== 0) {
      process.stdout.write(' failed\n');
      process.stderr.write(output);
      process.exit(1);
    }
    writeFileSync(stamp, `${new Date().toISOString()}\n`);
    rebuilt.add(p.name);
    process.stdout.write(` done (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  }
}

function portFree(port) {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => res(true)));
  });
}

async function checkPorts(args) {
  const i = args.indexOf('--port');
  const port = i >= 0 ? Number(args[i + 1]) : Number(process.env.KOFN_PORT ?? 8080);
  const r = args.indexOf('--relays');
  const relays = r >= 0 ? Number(args[r + 1]) : 3;
  if (args.includes('--ephemeral-ports')) return;
  for (let p = port; p <= port + relays; p++) {
    if (!(await portFree(p))) {
      const what = p === port ? 'the web app' : `relay-${p - port}`;
      process.stderr.write(
        `kofn: port ${p} (for ${what}) is in use: another kofn or another program is listening there.\n` +
          `Stop it, or choose other ports: KOFN_PORT=${port + 1000} npm start (the relays take the next ${relays}).\n`
      );
      process.exit(1);
    }
  }
}

const args = process.argv.slice(2);
await buildIfNeeded();
await checkPorts(args);
// Browsers are sent to http://localhost:…, not 127.0.0.1 (everything still listens on loopback only):
// WebAuthn refuses IP addresses as relying-party ids, so passkeys work out of the box on this machine.
if (!args.includes('--public-host')) args.push('--public-host', 'localhost');
process.argv = [process.argv[0], join(root, 'web/scripts/stack.mjs'), ...args];
await import('./stack.mjs');
