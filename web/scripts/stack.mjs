#!/usr/bin/env node
/**
 * kofn on one machine: the coordinator (built web app, adapter-node) on embedded PGlite and N local disk
 * relays, each announcing itself to the coordinator. Used by `npm start` and by the Playwright suite.
 *
 *   node web/scripts/stack.mjs [--data-dir .kofn] [--port 8080] [--relays 3] [--ephemeral-ports] [--json]
 *                              [--license license.json]   (signed by the vendor key built into the coordinator)
 *                              [--relay-env relay-2:KEY=VALUE]...   (extra environment for one relay; tests)
 *                              [--public-host localhost]   (the name browsers use; see below)
 *                              [--public-origin http://host:port]   (a load balancer's address in front of coordinators)
 *
 * Data lives under --data-dir (database in db/, relay i in relays/relay-i/) and is reused by the next start.
 * Relays join with one-time enrollment tokens the launcher makes for them on their first start. Once up,
 * a process that crashes is restarted with backoff (1 s doubling to 30 s; KOFN_STACK_RESTART_DELAY_MS sets
 * the first delay) while everything else keeps running; --tolerate-relay-exits leaves stopped relays down
 * (tests that stop relays on purpose).
 * --public-host names the coordinator in its public origin (ORIGIN, the relays' allowed web origin, the
 * address printed) while everything still listens on 127.0.0.1: WebAuthn refuses IP addresses as relying
 * party IDs, so passkeys need a host name, and `localhost` is one browsers treat as a secure context.
 * DATABASE_URL switches the coordinator to PostgreSQL. Ctrl-C (or SIGTERM) stops every child by PID.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { randomBase64url } from '@kofn/shared';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort } from './free-port.mjs';
import { RELAY_NODE_ARGS, relayEnv } from '@kofn/relay/dist/launch.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HOST = '127.0.0.1';

function parseArgs(argv) {
  const opts = {
    publicHost: HOST,
    publicOrigin: undefined,
    dataDir: '.kofn',
    port: Number(process.env.KOFN_PORT ?? 8080),
    relays: 3,
    ephemeral: false,
    json: false,
    license: undefined,
    tolerate: false,
    relayEnv: {}
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--data-dir') opts.dataDir = argv[++i];
    else if (a === '--port') opts.port = Number(argv[++i]);
    else if (a === '--relays') opts.relays = Number(argv[++i]);
    else if (a === '--public-host') opts.publicHost = argv[++i];
    // Several coordinators behind one address (shared/docs/operations.md): browsers, the CSRF check and the
    // relays' CORS use that address; this coordinator still listens on its own port.
    else if (a === '--public-origin') opts.publicOrigin = new URL(argv[++i] ?? '').origin;
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
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!/^[a-z0-9.-]{1,253}$/.test(opts.publicHost ?? '')) throw new Error('--public-host expected a host name');
  if (!Number.isInteger(opts.relays) || opts.relays < 1 || opts.relays > 32) throw new Error('--relays expected 1..32');
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) throw new Error('--port expected 1..65535');
  opts.dataDir = resolve(opts.dataDir);
  return opts;
}

/**
 * Relays join with one-time enrollment tokens. On this one machine the launcher plays the administrator:
 * for each relay folder not yet enrolled it makes a token, hands it to that relay, and gives the
 * coordinator only the tokens' SHA-256 (KOFN_RELAY_ENROLLMENTS), which it imports at start. A folder left
 * by a relay from before relay identity (a relay-id file, no enrollment) gets a token for that same id, so
 * its shares stay reachable. Enrolled relays need nothing: their key and id are in their folder.
 */
function provisionEnrollments(dataDir, names) {
  mkdirSync(dataDir, { recursive: true });
  const tokens = new Map();
  const entries = [];
  for (const name of names) {
    const dir = join(dataDir, 'relays', name);
    if (existsSync(join(dir, 'enrolled.json'))) continue;
    const token = randomBase64url(32);
    const legacyId = existsSync(join(dir, 'relay-id')) ? readFileSync(join(dir, 'relay-id'), 'utf8').trim() : undefined;
    tokens.set(name, token);
    entries.push({ tokenHash: createHash('sha256').update(token).digest('hex'), label: name, ...(legacyId ? { relayId: legacyId } : {}) });
  }
  const file = join(dataDir, 'relay-enrollments.json');
  writeFileSync(file, JSON.stringify(entries, null, 2), { mode: 0o600 });
  return { file, tokens };
}

const children = new Set();
let stopping = false;
let ready = false;
let json = false;

// Tests that stop relays on purpose keep them down (--tolerate-relay-exits); otherwise a crashed process
// is restarted with backoff, so one relay's crash never takes the coordinator and the others with it.
let tolerateRelayExits = false;
const BACKOFF_FIRST_MS = Number(process.env.KOFN_STACK_RESTART_DELAY_MS ?? 1000);
const BACKOFF_MAX_MS = 30_000;
// A process that stayed up this long is healthy again: its next crash starts the backoff afresh.
const BACKOFF_RESET_AFTER_MS = 60_000;

function say(line) {
  process.stderr.write(`kofn: ${line}\n`);
}

/**
 * Starts `name` and keeps it running once the stack is ready. Before that, an exit is fatal: the launch
 * itself is wrong (a port in use, a refused enrollment) and retrying would only hide it.
 */
function launch(name, args, env, { onLine } = {}) {
  let backoff = BACKOFF_FIRST_MS;
  const start = () => {
    const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const startedAt = Date.now();
    children.add(child);
    const prefix = `[${name}] `;
    createInterface({ input: child.stdout }).on('line', (line) => {
      onLine?.(line, child);
      if (process.env.KOFN_STACK_VERBOSE) process.stderr.write(prefix + line + '\n');
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (process.env.KOFN_STACK_VERBOSE || /"level":(50|60)|Error|kofn-relay:/.test(line)) process.stderr.write(prefix + line + '\n');
    });
    child.on('exit', (code, signal) => {
      children.delete(child);
      if (stopping) return;
      const how = signal ? `signal ${signal}` : `code ${code}`;
      if (tolerateRelayExits && name.startsWith('relay-')) return;
      if (!ready) {
        say(`${name} exited during start (${how}); stopping kofn`);
        void stop(1);
        return;
      }
      if (Date.now() - startedAt >= BACKOFF_RESET_AFTER_MS) backoff = BACKOFF_FIRST_MS;
      say(`${name} exited unexpectedly (${how}); restarting it in ${backoff / 1000} s. The rest of kofn keeps running.`);
      setTimeout(() => {
        if (!stopping) current = start();
      }, backoff).unref();
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    });
    return child;
  };
  let current = start();
  return {
    get child() {
      return current;
    }
  };
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

// KOFN_STACK_START_TIMEOUT_MS: how long to wait for the coordinator and relays to come up (default 60 s;
// e2e stacks started on a machine shared by many test runs take longer).
async function waitFor(what, check, timeoutMs = Number(process.env.KOFN_STACK_START_TIMEOUT_MS) || 60_000) {
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

const TB = 1e12;
const GB = 1e9;
/** One line on the licence in force, with the limits in the units they are sold in. */
async function licenceLine(origin) {
  try {
    const c = await (await fetch(`${origin}/api/configuration`, { signal: AbortSignal.timeout(5000) })).json();
    const limits = `storage up to ${c.storageLimit / TB} TB, files up to ${c.maxFileSize / GB} GB`;
    return c.licensed ? `Licence: ${c.tier} (${limits}).` : `No licence file: running with the Essential limits (3 storage servers, 10 users, ${limits}).`;
  } catch {
    return 'Licence: unknown (the coordinator did not answer).';
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
  json = opts.json;
  const relayNames = Array.from({ length: opts.relays }, (_, i) => `relay-${i + 1}`);
  const enrollments = provisionEnrollments(opts.dataDir, relayNames);
  const port = opts.ephemeral ? await freePort() : opts.port;
  // What browsers use (ORIGIN), and where this launcher and the relays reach the coordinator.
  const origin = opts.publicOrigin ?? `http://${opts.publicHost}:${port}`;
  const local = `http://${HOST}:${port}`;

  const coordinatorHandle = launch('coordinator', [join(root, 'web/build/index.js')], {
    HOST,
    PORT: String(port),
    ORIGIN: origin,
    KOFN_DATA_DIR: opts.dataDir,
    KOFN_MIGRATIONS_DIR: join(root, 'web/drizzle'),
    KOFN_RELAY_ENROLLMENTS: enrollments.file,
    KOFN_RELAY_OFFLINE_AFTER: '15',
    // adapter-node waits this many seconds for open connections on shutdown.
    SHUTDOWN_TIMEOUT: '2',
    // Idle keep-alive connections live 65 s, not Node's 5 s: a client that reuses a connection just as the server
    // closes it gets ECONNRESET (browsers retry that, scripts and Playwright's request API do not: a CI run
    // failed compact.spec on it). 65 s outlasts the 60 s idle timeout of common load balancers, so they close first.
    KEEP_ALIVE_TIMEOUT: process.env.KEEP_ALIVE_TIMEOUT ?? '65',
    ...(opts.license ? { KOFN_LICENSE: opts.license } : {})
  });

  const relayUrls = [];
  const relayProcs = [];
  const relayPorts = [];
  for (let i = 1; i <= opts.relays; i++) relayPorts.push(opts.ephemeral ? await freePort() : port + i);
  // Relays start side by side (each enrolls or loads its key on its own): a start costs one relay's time.
  const startRelay = (relayPort, i0) => {
    const i = i0 + 1;
    const name = `relay-${i}`;
    return new Promise((res, rej) => {
      let started = false;
      const handle = launch(
        name,
        [...RELAY_NODE_ARGS, join(root, 'relay/dist/main.js')],
        {
          KOFN_RELAY_NAME: name,
          KOFN_RELAY_LOCATION: 'this machine',
          KOFN_RELAY_HOST: HOST,
          KOFN_RELAY_PORT: String(relayPort),
          KOFN_RELAY_DATA: join(opts.dataDir, 'relays', name),
          KOFN_COORDINATOR: local,
          ...(enrollments.tokens.has(name) ? { KOFN_RELAY_ENROLLMENT_TOKEN: enrollments.tokens.get(name) } : {}),
          KOFN_RELAY_HEARTBEAT: '5',
          KOFN_WEB_ORIGINS: origin,
          // The relay's production environment (relay/src/launch.ts says why); an operator's own setting wins.
          ...relayEnv(),
          ...opts.relayEnv[name]
        },
        {
          onLine: (line, child) => {
            let msg;
            try {
              msg = JSON.parse(line);
            } catch {
              return; // not a JSON line: ignore
            }
            if (msg.event !== 'listening') return;
            if (!started) {
              started = true;
              relayUrls[i0] = msg.url;
              relayProcs[i0] = { name, url: msg.url, id: msg.id, pid: child.pid, dataDir: join(opts.dataDir, 'relays', name) };
              res();
            } else {
              say(`${name} is back at ${msg.url}.`);
              if (json) process.stdout.write(`${JSON.stringify({ event: 'restarted', name, pid: child.pid, url: msg.url })}\n`);
            }
          }
        }
      );
      handle.child.once('exit', () => {
        if (!started) rej(new Error(`${name} did not start`));
      });
    });
  };
  // An enrolled relay needs nothing from the coordinator to start (its key and id are in its folder; token
  // keys are fetched when first needed), so it starts beside the coordinator, and its first heartbeats are
  // retried within a second until the coordinator answers (relay/src/announce.ts): a second start takes
  // about the longer of the two starts, not their sum. A relay still to enroll waits for the coordinator.
  const early = relayPorts.map((relayPort, i0) => (enrollments.tokens.has(`relay-${i0 + 1}`) ? undefined : startRelay(relayPort, i0)));
  // Awaited below; until then a failed start must not be an unhandled rejection (it also stops the launch).
  for (const p of early) p?.catch(() => undefined);
  await waitFor('the coordinator', async () => (await fetch(`${local}/api/health`)).ok);
  await Promise.all(relayPorts.map((relayPort, i0) => early[i0] ?? startRelay(relayPort, i0)));
  await waitFor('relays to register', async () => {
    const body = await (await fetch(`${local}/api/health`)).json();
    return body.relaysOnline >= opts.relays;
  });

  ready = true;
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ event: 'ready', url: origin, relays: relayUrls, relayProcs, pid: process.pid, coordinator: { url: local, pid: coordinatorHandle.child.pid } })}\n`);
  } else {
    process.stdout.write(
      `\nkofn is running with ${opts.relays} relays (data in ${opts.dataDir}).\n` +
        `${await licenceLine(local)}\n` +
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
