#!/usr/bin/env node
/**
 * kofn on one machine: the coordinator (built web app, adapter-node) on embedded PGlite and N local disk
 * relays, each announcing itself to the coordinator. Used by `npm start` and by the Playwright suite.
 *
 *   node web/scripts/stack.mjs [--data-dir .kofn] [--port 8080] [--relays 3] [--ephemeral-ports] [--json]
 *                              [--license license.json]   (with KOFN_LICENSE_PUBLIC_KEY set to the vendor key)
 *                              [--relay-env relay-2:KEY=VALUE]...   (extra environment for one relay; tests)
 *
 * Data lives under --data-dir (database in db/, relay i in relays/relay-i/) and is reused by the next start.
 * DATABASE_URL switches the coordinator to PostgreSQL. Ctrl-C (or SIGTERM) stops every child by PID.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOST = '127.0.0.1';

function parseArgs(argv) {
  const opts = { dataDir: '.kofn', port: Number(process.env.KOFN_PORT ?? 8080), relays: 3, ephemeral: false, json: false, license: undefined, tolerate: false, relayEnv: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--data-dir') opts.dataDir = argv[++i];
    else if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--relays') opts.relays = Number(argv[++i]);
    else if (a === '--ephemeral-ports') opts.ephemeral = true;
    else if (a === '--json') opts.json = true;
    else if (a === '--license') opts.license = resolve(argv[++i]);
    // Tests stop relays on purpose: keep the rest running when a relay exits.
    else if (a === '--tolerate-relay-exits') opts.tolerate = true;
    // One relay's extra environment, over the launcher's (e2e puts a hostile proxy in front of a relay this way).
    else if (a === '--relay-env') {
      const m = /^([^:]+):([A-Z0-9_]+)=(.*)$/.exec(argv[++i] ?? '');
      if (!m) throw new Error('--relay-env expected NAME:KEY=VALUE');
      (opts.relayEnv[m[1]] ??= {})[m[2]] = m[3];
    }
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.relays) || opts.relays < 1 || opts.relays > 32) throw new Error('--relays expected 1..32');
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) throw new Error('--port expected 1..65535');
  opts.dataDir = resolve(opts.dataDir);
  return opts;
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

/** The join secret is made once per data directory and kept, so restarted relays are accepted. */
function stackSecrets(dataDir) {
  const file = join(dataDir, 'stack.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  mkdirSync(dataDir, { recursive: true });
  const secrets = { joinSecret: randomBytes(32).toString('base64url') };
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

const children = new Set();
let stopping = false;

let tolerateRelayExits = false;

function launch(name, args, env, { onLine } = {}) {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const prefix = `[${name}] `;
  createInterface({ input: child.stdout }).on('line', (line) => {
    onLine?.(line);
    if (process.env.KOFN_STACK_VERBOSE) process.stderr.write(prefix + line + '\n');
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (process.env.KOFN_STACK_VERBOSE || /"level":(50|60)|Error/.test(line)) process.stderr.write(prefix + line + '\n');
  });
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (!stopping && !(tolerateRelayExits && name.startsWith('relay-'))) {
      process.stderr.write(`${prefix}exited unexpectedly (code ${code}, signal ${signal}); stopping kofn\n`);
      void stop(1);
    }
  });
  return child;
}

async function stop(code) {
  if (stopping) return;
  stopping = true;
  const waits = [...children].map(
    (child) =>
      new Promise((res) => {
        if (child.exitCode !== null || child.signalCode !== null) return res();
        child.once('exit', res);
        process.kill(child.pid, 'SIGTERM');
        setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
        }, 5000).unref();
      })
  );
  await Promise.all(waits);
  process.exit(code);
}

async function waitFor(what, check, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet: keep polling until the deadline
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  for (const required of ['web/build/index.js', 'relay/dist/main.js']) {
    if (!existsSync(join(root, required))) throw new Error(`${required} is missing: run \`npm run build\` first`);
  }
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  tolerateRelayExits = opts.tolerate;
  const { joinSecret } = stackSecrets(opts.dataDir);
  const port = opts.ephemeral ? await freePort() : opts.port;
  const origin = `http://${HOST}:${port}`;

  launch('coordinator', [join(root, 'web/build/index.js')], {
    HOST,
    PORT: String(port),
    ORIGIN: origin,
    KOFN_DATA_DIR: opts.dataDir,
    KOFN_MIGRATIONS_DIR: join(root, 'web/drizzle'),
    KOFN_JOIN_SECRET: joinSecret,
    KOFN_RELAY_OFFLINE_AFTER: '15',
    // adapter-node waits this many seconds for open connections on shutdown.
    SHUTDOWN_TIMEOUT: '2',
    ...(opts.license ? { KOFN_LICENSE: opts.license } : {})
  });
  await waitFor('the coordinator', async () => (await fetch(`${origin}/api/health`)).ok);

  const relayUrls = [];
  const relayProcs = [];
  for (let i = 1; i <= opts.relays; i++) {
    const name = `relay-${i}`;
    const relayPort = opts.ephemeral ? await freePort() : port + i;
    await new Promise((res, rej) => {
      const child = launch(
        name,
        [join(root, 'relay/dist/main.js')],
        {
          KOFN_RELAY_NAME: name,
          KOFN_RELAY_LOCATION: 'this machine',
          KOFN_RELAY_HOST: HOST,
          KOFN_RELAY_PORT: String(relayPort),
          KOFN_RELAY_DATA: join(opts.dataDir, 'relays', name),
          KOFN_COORDINATOR: origin,
          KOFN_JOIN_SECRET: joinSecret,
          KOFN_RELAY_HEARTBEAT: '5',
          KOFN_WEB_ORIGINS: origin,
          ...opts.relayEnv[name]
        },
        {
          onLine: (line) => {
            try {
              const msg = JSON.parse(line);
              if (msg.event === 'listening') {
                relayUrls.push(msg.url);
                relayProcs.push({ name, url: msg.url, id: msg.id, pid: child.pid, dataDir: join(opts.dataDir, 'relays', name) });
                res();
              }
            } catch {
              // not a JSON line: ignore
            }
          }
        }
      );
      child.once('exit', () => rej(new Error(`${name} did not start`)));
    });
  }
  await waitFor('relays to register', async () => {
    const body = await (await fetch(`${origin}/api/health`)).json();
    return body.relaysOnline >= opts.relays;
  });

  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ event: 'ready', url: origin, relays: relayUrls, relayProcs, pid: process.pid })}\n`);
  } else {
    process.stdout.write(
      `\nkofn is running with ${opts.relays} relays (data in ${opts.dataDir}).\n` +
        `Open ${origin}\n` +
        relayUrls.map((u, i) => `  relay-${i + 1}: ${u}\n`).join('') +
        `Press Ctrl-C to stop.\n`
    );
  }
}

main().catch((err) => {
  process.stderr.write(`kofn: ${err.message}\n`);
  void stop(1);
});
