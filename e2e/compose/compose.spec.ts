/**
 * The whole stack in containers (issue #22): relay/docker-compose.yml started with Debian's docker-compose
 * (1.29) on a private bridge network, PostgreSQL from the locally made postgres:15-bookworm image, the
 * coordinator and five relays from their Dockerfiles. Run by relay/docker/test-compose.sh, which starts the
 * engine and builds the images (KOFN_RELAY_IMAGE, KOFN_COORDINATOR_IMAGE). Proven, from Debian's Chromium
 * on the host:
 *   - the operator steps of relay/docker/COMPOSE.md work as written: PostgreSQL and the coordinator first,
 *     the administrator, one `kofn-admin enroll` token per relay, then the relays started once with them;
 *     each relay's logged key fingerprint is the one the coordinator pinned;
 *   - every container reports healthy through the Dockerfiles' HEALTHCHECKs, which ask the readiness routes
 *     (/api/health/ready, /v1/ready): with PostgreSQL stopped the coordinator's check fails;
 *   - files protected (3 of 5) and retrieved through the containers come back with their SHA-256;
 *   - with one relay container killed, they still come back;
 *   - after `docker-compose down` and `up` (no tokens: the relays' volumes keep their enrollment), every
 *     file still comes back.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { expect, test, type Page } from '@playwright/test';
import { ADMIN } from '../fixtures.js';
import { chooseSharing, makeFile, opfsSha256, protectThroughUi, retrieveThroughUi, saveToOpfs } from '../helpers.js';
import { runNode } from '../run-node.js';
import { freePortBlock } from '../stack.js';

const execFileAsync = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const RELAYS = [1, 2, 3, 4, 5] as const;
const SERVICES = ['postgres', 'coordinator', ...RELAYS.map((n) => `relay-${n}`)];

test.describe.configure({ mode: 'serial' });

const work = mkdtempSync(join(tmpdir(), 'kofn-compose-'));
const project = `kofncompose${process.pid}`;
let env: Record<string, string> = {};
let url = '';

/** docker-compose with this run's project, files and variables; throws with its output when it fails. */
async function compose(...args: string[]): Promise<string> {
  const files = ['-f', join(ROOT, 'relay/docker-compose.yml'), '-f', join(ROOT, 'relay/docker-compose.licence.yml')];
  try {
    const { stdout } = await execFileAsync('docker-compose', ['-p', project, ...files, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`docker-compose ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err });
  }
}

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('docker', args, { maxBuffer: 64 << 20 });
  return stdout.trim();
}

const containerOf = async (service: string) => (await compose('ps', '-q', service)).trim();

async function health(): Promise<{ ok?: boolean; relaysOnline?: number } | undefined> {
  return fetch(`${url}/api/health`, { signal: AbortSignal.timeout(5000) }).then(
    (r) => (r.ok ? (r.json() as Promise<{ ok: boolean; relaysOnline: number }>) : undefined),
    () => undefined
  );
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, explain: () => Promise<string> = async () => '', timeoutMs = 240_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${await explain().catch((err: unknown) => String(err))}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** Docker's own view of a container's HEALTHCHECK: starting, healthy or unhealthy. */
async function healthStatus(service: string): Promise<string> {
  return docker('inspect', '--format', '{{.State.Health.Status}}', await containerOf(service));
}

/** Waits until Docker calls every service healthy; on timeout says what the checks and the service logged. */
async function allHealthy(): Promise<void> {
  const t0 = Date.now();
  for (const service of SERVICES) {
    await until(
      `${service} to be healthy`,
      async () => ((await healthStatus(service)) === 'healthy' ? true : undefined),
      async () => {
        const state = await docker('inspect', '--format', '{{json .State}}', await containerOf(service));
        const logs = (await compose('logs', '--no-color', '--tail', '30', service)).slice(-4000);
        return `state: ${state}\nlogs:\n${logs}`;
      }
    );
    const health = JSON.parse(await docker('inspect', '--format', '{{json .State.Health.Log}}', await containerOf(service))) as Array<{ ExitCode: number; Output: string }>;
    const failed = health.filter((h) => h.ExitCode !== 0).map((h) => h.Output.trim() || `exit ${h.ExitCode}`);
    console.log(`    ${service} healthy after ${((Date.now() - t0) / 1000).toFixed(1)} s${failed.length ? ` (recent failed checks: ${failed.join('; ').slice(0, 300)})` : ''}`);
  }
}

/** Removes a retrieved copy from the origin-private file system, so the next retrieval must write it again. */
async function forgetSaved(page: Page, name: string): Promise<void> {
  await page.evaluate(async (n) => {
    const root = await navigator.storage.getDirectory();
    await root.removeEntry(n).catch(() => undefined);
  }, name);
}

/** A test step that prints how long it took: the compose test's cost in `npm test` is measured, step by step. */
async function step(title: string, body: () => Promise<void>): Promise<void> {
  const t0 = Date.now();
  await test.step(title, body);
  console.log(`  ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  ${title}`);
}

async function retrieveAndCheck(page: Page, files: Array<{ name: string; sha256: string }>): Promise<void> {
  await page.goto('/');
  for (const f of files) {
    await forgetSaved(page, f.name);
    await retrieveThroughUi(page, f.name);
    const row = page
      .getByTestId('transfer')
      .filter({ hasText: `Retrieving ${f.name}` })
      .first();
    await expect(row, await row.innerText()).toHaveAttribute('data-status', 'done');
    expect(await opfsSha256(page, f.name), `${f.name} saved bytes`).toBe(f.sha256);
  }
}

test.beforeAll(async () => {
  const port = await freePortBlock(RELAYS.length);
  url = `http://localhost:${port}`;
  // The licence: Pro (five relays), signed with the TEST-ONLY vendor key that only the test image trusts.
  const license = join(work, 'license.json');
  const issued = await runNode(join(ROOT, 'web/scripts/kofn-license.mjs'), [
    'issue',
    '--key',
    join(ROOT, 'web/src/lib/server/testing/TEST-ONLY-vendor-license-private.pem'),
    '--tier',
    'Pro',
    '--licensee',
    'kofn compose test',
    '--out',
    license
  ]);
  expect(issued.code, issued.stderr).toBe(0);
  // Read by the coordinator's unprivileged user through a read-only bind mount; a licence is no secret.
  chmodSync(license, 0o644);
  env = {
    KOFN_PORT: String(port),
    KOFN_PUBLIC_URL: url,
    KOFN_LICENSE_FILE: license,
    KOFN_DB_PASSWORD: 'compose-test-db-password',
    // Docker's health states follow within seconds instead of the 15 s default (the check itself is the image's);
    // each check starts a node process in the container, so not more often on 2 cores.
    KOFN_HEALTH_INTERVAL: '5s',
    KOFN_RELAY_IMAGE: process.env.KOFN_RELAY_IMAGE ?? 'kofn/relay:test',
    KOFN_COORDINATOR_IMAGE: process.env.KOFN_COORDINATOR_IMAGE ?? 'kofn/coordinator:test'
  };
  for (const n of RELAYS) {
    env[`KOFN_RELAY_${n}_PORT`] = String(port + n);
    env[`KOFN_RELAY_${n}_URL`] = `http://relay-${n}.localhost:${port + n}`;
  }
});

test.afterAll(async () => {
  // Every container, the network and the volumes of this run; the images stay for the next run.
  await compose('down', '-v', '--remove-orphans').catch((err: unknown) => console.log(String(err)));
  rmSync(work, { recursive: true, force: true });
});

test('compose: enroll five relays, protect, lose a relay, down and up, every file comes back', async ({ browser }) => {
  const files = (
    [
      ['compose-a.bin', 3 * 1024 * 1024 + 5],
      ['compose-b.bin', 70_001]
    ] as const
  ).map(([name, size]) => ({ name, ...makeFile(name, size) }));

  await step('PostgreSQL and the coordinator start, on the private network', async () => {
    await compose('up', '-d', 'postgres', 'coordinator');
    await until('the coordinator to be ready', async () => {
      const r = await fetch(`${url}/api/health/ready`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
      return r?.ok ? true : undefined;
    });
    // Only the coordinator's port is published: PostgreSQL is reachable from the network alone.
    expect(await docker('port', await containerOf('postgres'))).toBe('');
  });

  const tokens: Record<string, string> = {};
  await step('the administrator makes one enrollment token per relay (kofn-admin enroll)', async () => {
    const setup = await fetch(`${url}/api/setup`, { method: 'POST', headers: { origin: url, 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
    expect(setup.status).toBe(201);
    for (const n of RELAYS) {
      const r = await runNode(join(ROOT, 'web/scripts/kofn-admin.mjs'), ['enroll', '--coordinator', url, '--email', ADMIN.email, '--name', `relay-${n}`], {
        env: { KOFN_ADMIN_PASSWORD: ADMIN.password }
      });
      expect(r.code, r.stderr).toBe(0);
      const token = r.stdout.toString().split('\n')[1]?.trim();
      expect(token, r.stdout.toString()).toMatch(/^\S{20,}$/);
      tokens[`KOFN_ENROLL_RELAY_${n}`] = token!;
    }
  });

  await step('the relays start once with their tokens and enroll', async () => {
    const withoutTokens = env;
    env = { ...env, ...tokens };
    await compose('up', '-d');
    env = withoutTokens;
    await until('five relays online', async () => ((await health())?.relaysOnline === RELAYS.length ? true : undefined));
    // Operator step 3: the fingerprint each relay logged is the one the coordinator pinned.
    const listed = await runNode(join(ROOT, 'web/scripts/kofn-admin.mjs'), ['relays', '--coordinator', url, '--email', ADMIN.email], { env: { KOFN_ADMIN_PASSWORD: ADMIN.password } });
    expect(listed.code, listed.stderr).toBe(0);
    for (const n of RELAYS) {
      const logs = await compose('logs', '--no-color', `relay-${n}`);
      const fingerprint = /"fingerprint":"([^"]+)"/.exec(logs)?.[1];
      expect(fingerprint, `relay-${n} logged its key fingerprint`).toBeTruthy();
      const line = listed.stdout
        .toString()
        .split('\n')
        .find((l) => l.includes(` relay-${n} `));
      expect(line, listed.stdout.toString()).toContain(`http://relay-${n}.localhost:${env[`KOFN_RELAY_${n}_PORT`]}  online  key ${fingerprint}`);
    }
  });

  await step('every container is healthy by its Dockerfile HEALTHCHECK, which asks the readiness route', async () => {
    await allHealthy();
    const probe = async (service: string) => docker('inspect', '--format', '{{json .Config.Healthcheck.Test}}', await containerOf(service));
    expect(await probe('coordinator')).toContain('/api/health/ready');
    for (const n of RELAYS) expect(await probe(`relay-${n}`)).toContain('/v1/ready');
  });

  const context = await browser.newContext({ baseURL: url });
  const page = await context.newPage();
  await saveToOpfs(page);
  await step('Chromium on the host protects two files (3 of 5) and retrieves them', async () => {
    const login = await page.request.post('/api/login', { data: { email: ADMIN.email, password: ADMIN.password }, headers: { Origin: url } });
    expect(login.status()).toBe(200);
    await page.goto('/');
    await chooseSharing(page, 3, 5);
    for (const f of files) await protectThroughUi(page, f, f.name);
    await retrieveAndCheck(page, files);
  });

  await step('with one relay container killed, every file still comes back', async () => {
    const killed = await containerOf('relay-2');
    await docker('kill', killed);
    expect(await docker('inspect', '--format', '{{.State.Running}}', killed)).toBe('false');
    await retrieveAndCheck(page, files);
  });

  await step("the coordinator's healthcheck fails while PostgreSQL is stopped", async () => {
    const coordinator = await containerOf('coordinator');
    const check = JSON.parse(await docker('inspect', '--format', '{{json .Config.Healthcheck.Test}}', coordinator)) as string[];
    expect(check[0]).toBe('CMD');
    const runCheck = () =>
      execFileAsync('docker', ['exec', coordinator, ...check.slice(1)]).then(
        () => 0,
        // execFile's error carries the exit code of the command run in the container.
        (err: unknown) => (err as { code?: number }).code ?? -1
      );
    expect(await runCheck()).toBe(0);
    await compose('stop', 'postgres');
    expect(await runCheck()).toBe(1);
    await compose('start', 'postgres');
    await until('the coordinator to be ready again', async () => ((await runCheck()) === 0 ? true : undefined));
  });

  await step('docker-compose down and up, without tokens: every file comes back', async () => {
    await compose('down');
    await compose('up', '-d');
    // The coordinator may still count the old containers' heartbeats: Docker's health of the new ones decides.
    await allHealthy();
    expect((await health())?.relaysOnline).toBe(RELAYS.length);
    await retrieveAndCheck(page, files);
  });
  await context.close();
});
