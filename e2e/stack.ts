/**
 * Starts a whole kofn (coordinator on a fresh PGlite folder, N disk relays) with the launcher behind
 * `npm start`, on free loopback ports, with a licence signed for the run by the real kofn-license tool
 * with the committed TEST-ONLY vendor key, which only a build made for tests trusts
 * (`KOFN_TEST_BUILD=1 npm run build`; see web/src/lib/server/license-keys.ts).
 * Stopped by PID. Used by the global setup (shared stack) and by tests that stop relays on purpose.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../web/scripts/free-port.mjs';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface RelayProc {
  name: string;
  url: string;
  id: string;
  pid: number;
  dataDir: string;
}

export interface RunningStack {
  url: string;
  /** The coordinator process the launcher started: its own loopback URL and PID (the PID of its first start). */
  coordinator: { url: string; pid: number };
  relays: string[];
  relayProcs: RelayProc[];
  dataDir: string;
  /** Resolves when the launcher has restarted the named relay after a crash (its new PID is in relayProcs). */
  restarted: (name: string) => Promise<void>;
  /** Stops every process by PID; the data folder is deleted unless `keepData` (to read the relays' folders after). */
  stop: (opts?: { keepData?: boolean }) => Promise<void>;
}

export interface StackOptions {
  relays: number;
  tier?: 'Essential' | 'Pro' | 'Elite' | 'Custom';
  /** For Custom: [relays, users, protectedBytes, maxFileSize]. */
  custom?: [number, number, number, number];
  tolerateRelayExits?: boolean;
  /** The host name in the coordinator's public origin (stack.mjs --public-host): `localhost` for WebAuthn. */
  publicHost?: string;
  /** Extra environment for the coordinator and relays. */
  env?: Record<string, string>;
  /** Extra environment for one relay, by name (relay-1...), over the launcher's: e.g. its port and public URL. */
  relayEnv?: Record<string, Record<string, string>>;
  /**
   * Let the coordinator create its PGlite folder itself (PGlite's initdb) instead of starting from a copy of
   * the run's template, schema and no rows (see pgliteTemplate): the first shared stack does, so a true first start stays covered.
   */
  freshDatabase?: boolean;
  /**
   * The coordinator's PostgreSQL (DATABASE_URL) instead of its embedded PGlite: a database the caller made
   * for this stack and drops after (see e2e/postgres-database.ts).
   */
  databaseUrl?: string;
  /**
   * Start on the data folder of a stopped stack (`stop({ keepData: true })`): its relays keep their keys,
   * enrollment and shares, and the coordinator its PGlite database (backup and restore tests).
   */
  dataDir?: string;
  /**
   * A fixed coordinator port (relays take the next ones) instead of ephemeral ports: relays are enrolled at
   * the coordinator's URL, so a stack started again on the same `dataDir` must keep it (see freePortBlock).
   */
  port?: number;
  /** The address browsers use when a load balancer stands in front of coordinators (stack.mjs --public-origin). */
  publicOrigin?: string;
}

const root = resolve(import.meta.dirname, '..');
const testVendorKey = join(root, 'web/src/lib/server/testing/TEST-ONLY-vendor-license-private.pem');

/** The launcher's ready line (stack.mjs --json). */
interface Ready {
  url: string;
  relays: string[];
  relayProcs: RelayProc[];
  coordinator: { url: string; pid: number };
}

export async function startStack(opts: StackOptions): Promise<RunningStack> {
  assertTestBuild();
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'kofn-e2e-'));
  // A loaded machine (many test runs at once) has taken over 60 s to bring a coordinator up.
  const env: NodeJS.ProcessEnv = { KOFN_STACK_START_TIMEOUT_MS: '150000', ...process.env, ...opts.env };
  // The e2e stacks use their own embedded database unless a PostgreSQL database is given for this stack:
  // an inherited DATABASE_URL (npm test sets one for the coordinator suites) must not leak in.
  delete env.DATABASE_URL;
  if (opts.databaseUrl) env.DATABASE_URL = opts.databaseUrl;
  const license = join(dataDir, 'license.json');
  const cli = join(root, 'web/scripts/kofn-license.mjs');
  const custom = opts.custom ? ['--relays', opts.custom[0], '--users', opts.custom[1], '--protected-bytes', opts.custom[2], '--max-file-size', opts.custom[3]].map(String) : [];
  const issuing = execFileAsync(process.execPath, [cli, 'issue', '--key', testVendorKey, '--tier', opts.tier ?? 'Pro', '--licensee', 'kofn e2e', ...custom, '--out', license]);
  // The database folder the coordinator would otherwise initdb (29 s on a loaded CI machine): an empty copy.
  const template = process.env[TEMPLATE_ENV];
  if (template && !opts.freshDatabase && !opts.databaseUrl && !existsSync(join(dataDir, 'db')) && existsSync(template)) cpSync(template, join(dataDir, 'db'), { recursive: true });
  await issuing;
  const args = [
    join(root, 'web/scripts/stack.mjs'),
    '--data-dir',
    dataDir,
    '--relays',
    String(opts.relays),
    ...(opts.port ? ['--port', String(opts.port)] : ['--ephemeral-ports']),
    '--json',
    '--license',
    license
  ];
  if (opts.tolerateRelayExits) args.push('--tolerate-relay-exits');
  if (opts.publicHost) args.push('--public-host', opts.publicHost);
  if (opts.publicOrigin) args.push('--public-origin', opts.publicOrigin);
  for (const [name, vars] of Object.entries(opts.relayEnv ?? {})) for (const [k, v] of Object.entries(vars)) args.push('--relay-env', `${name}:${k}=${v}`);
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // The launcher's own lines pass through; the last ones go into a failed start's error, so a CI log that
  // keeps only each failure's message still says why (a CI run lost two stacks with only "code 1" to go on).
  const said: string[] = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    process.stderr.write(`${line}\n`);
    said.push(line.slice(0, 300));
    if (said.length > 8) said.shift();
  });
  let ready: Ready | undefined;
  const restartWaiters: Array<(name: string) => void> = [];
  const info = await new Promise<Ready>((res, rej) => {
    const timer = setTimeout(() => {
      // Stop what did start (by PID: the launcher stops its children), so a failed start leaves nothing running.
      child.kill('SIGTERM');
      rej(new Error('kofn stack did not become ready in 180 s'));
    }, 180_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const msg = JSON.parse(line) as Ready & { event?: string; name: string; pid: number };
      if (msg.event === 'ready') {
        clearTimeout(timer);
        res(msg);
        ready = msg;
      } else if (msg.event === 'restarted' && ready) {
        // The launcher restarted a crashed relay: keep its new PID, so tests stop the right process.
        const relay = ready.relayProcs.find((r) => r.name === msg.name);
        if (relay) relay.pid = msg.pid;
        for (const w of restartWaiters.splice(0)) w(msg.name);
      }
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      rej(new Error(`kofn stack exited early with code ${code}; it said:\n${said.join('\n')}`));
    });
  });
  return {
    ...info,
    dataDir,
    restarted: (name: string) =>
      new Promise<void>((res) => {
        const wait = (n: string) => (n === name ? res() : restartWaiters.push(wait));
        restartWaiters.push(wait);
      }),
    stop: async (stopOpts = {}) => {
      await new Promise<void>((res) => {
        if (child.exitCode !== null) {
          res();
          return;
        }
        child.once('exit', () => res());
        process.kill(child.pid!, 'SIGTERM');
      });
      if (!stopOpts.keepData) rmSync(dataDir, { recursive: true, force: true });
    }
  };
}

/**
 * A coordinator port whose next `count` ports are free too (for `port`), below the kernel's ephemeral range
 * (web/scripts/free-port.mjs). Another program may still take one before the stack does.
 */
export function freePortBlock(count: number): Promise<number> {
  return freePort(count + 1);
}

/** Where global-setup.ts put the template PGlite folder (e2e/pglite-template.mjs); workers inherit it. */
export const TEMPLATE_ENV = 'KOFN_E2E_PGLITE_TEMPLATE';

/**
 * The PGlite folder with kofn's schema and no rows that private stacks start from (e2e/pglite-template.mjs),
 * kept between runs in node_modules/.cache (as ESLint and Prettier keep theirs) under the PGlite version and the
 * migrations that made it: it depends on nothing else. Made in a child process, so it runs beside whatever the
 * caller starts; made under a temporary name and renamed, so two runs at once never see half a folder. Read
 * only: stacks copy it.
 */
export async function pgliteTemplate(): Promise<string> {
  const { version } = JSON.parse(readFileSync(join(root, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')) as { version: string };
  const migrations = join(root, 'web/drizzle');
  const digest = createHash('sha256');
  for (const f of readdirSync(migrations)
    .filter((n) => n.endsWith('.sql'))
    .sort())
    digest.update(f).update(readFileSync(join(migrations, f)));
  digest.update(readFileSync(join(migrations, 'meta/_journal.json')));
  const cache = join(root, 'node_modules/.cache/kofn-e2e');
  const done = join(cache, `pglite-${version}-schema-${digest.digest('hex').slice(0, 16)}`);
  if (existsSync(join(done, 'db', 'PG_VERSION'))) return join(done, 'db');
  mkdirSync(cache, { recursive: true });
  const making = mkdtempSync(join(cache, 'making-'));
  try {
    await execFileAsync(process.execPath, [join(root, 'e2e/pglite-template.mjs'), join(making, 'db')], { cwd: root });
    renameSync(making, done);
  } catch (err) {
    rmSync(making, { recursive: true, force: true });
    // Another run made it meanwhile: use theirs.
    if (!existsSync(join(done, 'db', 'PG_VERSION'))) throw err;
  }
  return join(done, 'db');
}

/**
 * A production build refuses the test key and runs with Essential limits (so a stack of five relays
 * does not even start): say so before starting, instead of failing later on a limit.
 */
function assertTestBuild(): void {
  const key = readFileSync(join(root, 'web/src/lib/server/testing/TEST-ONLY-vendor-license-public.pem'), 'utf8').split('\n')[1]!;
  const server = join(root, 'web/build/server');
  const files = existsSync(server) ? readdirSync(server, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js')) : [];
  if (!files.some((f) => readFileSync(join(server, f), 'utf8').includes(key))) {
    throw new Error('web/build is not a build for tests (it would refuse the test licence): run KOFN_TEST_BUILD=1 npm run build first.');
  }
}

/** Stops one relay process by PID (SIGKILL: as abrupt as a crash) and waits until it is gone. */
export async function killRelay(relay: RelayProc): Promise<void> {
  try {
    process.kill(relay.pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(relay.pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
