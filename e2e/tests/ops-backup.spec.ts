/**
 * Backup and restore of the coordinator's database (issue #22, shared/docs/operations.md), on PostgreSQL
 * (pg_dump while the stack runs) and on PGlite (PGlite's dump, stack stopped), each on a private stack of
 * 3 relays: files are protected with the `kofn` CLI, the database is backed up, then one more file is
 * protected and one removed; the database is destroyed and restored from the backup and the stack started
 * again on the same relays. Proven:
 *   - every file in the backup comes back byte-identical;
 *   - a file protected after the backup is unknown to the restored coordinator, and its shares, still on
 *     the relays, rebuild it offline (`kofn recover` on k relay folders): nothing is lost for good;
 *   - a file removed after the backup is listed again but its shares are gone: retrieving it fails cleanly
 *     (every relay answers 404) and `kofn check` calls it unrecoverable, so the operator removes it again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { ADMIN, expect, test } from '../fixtures.js';
import { freePortBlock, startStack, type RunningStack } from '../stack.js';
import { findPostgres } from '../find-postgres.mjs';
import { runNode, type NodeRun } from '../run-node.js';

test.describe.configure({ timeout: 300_000 });

const ROOT = resolve(import.meta.dirname, '../..');
const KOFN = join(ROOT, 'shared/bin/kofn.mjs');
const BACKUP = join(ROOT, 'web/scripts/kofn-backup.mjs');

function node(script: string, args: string[], env: Record<string, string | undefined>, input = ''): Promise<NodeRun> {
  return runNode(script, args, { env, input });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function scenario(work: string, backend: { databaseUrl?: string; destroy: (dataDir: string) => Promise<void> }): Promise<void> {
  const env = { KOFN_CONFIG_DIR: join(work, 'config') };
  const cli = (...args: string[]) => node(KOFN, args, env);
  const backupEnv = { DATABASE_URL: backend.databaseUrl ?? '' };
  const files = new Map<string, Buffer>();
  const protect = async (name: string, size: number) => {
    const data = randomBytes(size);
    files.set(name, data);
    writeFileSync(join(work, name), data);
    const r = await cli('protect', join(work, name), '-k', '2');
    expect(r.code, r.stderr).toBe(0);
  };

  // One port block for every start: relays are enrolled at the coordinator's URL.
  const port = await freePortBlock(3);
  let stack: RunningStack | undefined = await startStack({ relays: 3, tier: 'Pro', port, ...(backend.databaseUrl ? { databaseUrl: backend.databaseUrl } : {}) });
  const dataDir = stack.dataDir;
  try {
    const setup = await fetch(`${stack.url}/api/setup`, { method: 'POST', headers: { origin: stack.url, 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
    expect(setup.status).toBe(201);
    const login = await node(KOFN, ['login', stack.url, '--email', ADMIN.email, '--password-stdin'], env, `${ADMIN.password}\n`);
    expect(login.code, login.stderr).toBe(0);
    await protect('kept-1.bin', 2 * 1024 * 1024 + 3);
    await protect('kept-2.bin', 300_000);
    await protect('removed-after.bin', 100_000);

    // PostgreSQL is backed up live; PGlite with the stack stopped (the script refuses an open folder).
    const backupFile = join(work, backend.databaseUrl ? 'kofn.dump' : 'kofn-pglite.tar.gz');
    if (!backend.databaseUrl) {
      const refused = await node(BACKUP, ['backup', '--out', backupFile, '--data-dir', dataDir], backupEnv);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('stop kofn first');
      await stack.stop({ keepData: true });
      stack = undefined;
    }
    const backed = await node(BACKUP, ['backup', '--out', backupFile, '--data-dir', dataDir], backupEnv);
    expect(backed.code, backed.stderr).toBe(0);
    stack ??= await startStack({ relays: 3, tier: 'Pro', dataDir, port });

    // After the backup: one more file, one removal (its shares are deleted from the relays by a job).
    await protect('after-backup.bin', 200_000);
    const rm = await cli('rm', 'removed-after.bin');
    expect(rm.code, rm.stderr).toBe(0);
    // `kofn rm` moves the file to the trash (issue #18): emptying it is what deletes its shares.
    await emptyTrash(stack.url);
    await expect.poll(async () => (await cli('ls', '--json')).stdout.toString().includes('removed-after.bin'), { timeout: 30_000 }).toBe(false);
    // Let the delete job remove the shares (the coordinator retries until every relay answered).
    await new Promise((r) => setTimeout(r, 3000));
    await stack.stop({ keepData: true });
    stack = undefined;

    // Destroy, restore, start again on the same relays.
    await backend.destroy(dataDir);
    const restored = await node(BACKUP, ['restore', '--in', backupFile, '--data-dir', dataDir], backupEnv);
    expect(restored.code, restored.stderr).toBe(0);
    // A second restore over the restored database is refused: it would mix two states.
    const again = await node(BACKUP, ['restore', '--in', backupFile, '--data-dir', dataDir], backupEnv);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('not empty');
    stack = await startStack({ relays: 3, tier: 'Pro', dataDir, port, ...(backend.databaseUrl ? { databaseUrl: backend.databaseUrl } : {}) });

    // The CLI's session was made before the backup: it is valid again.
    for (const name of ['kept-1.bin', 'kept-2.bin']) {
      const r = await cli('retrieve', name, '-o', '-');
      expect(r.code, r.stderr).toBe(0);
      expect(sha(r.stdout)).toBe(sha(files.get(name)!));
    }
    // Protected after the backup: unknown to the restored coordinator.
    const lost = await cli('retrieve', 'after-backup.bin', '-o', '-');
    expect(lost.code).not.toBe(0);
    // Removed after the backup: listed again, shares gone, refused cleanly and reported unrecoverable.
    const ghost = await cli('retrieve', 'removed-after.bin', '-o', '-');
    // (The CLI exits 4, "too few servers answered", though each relay answered 404: a CLI wording to revisit.)
    expect(ghost.code, ghost.stderr).not.toBe(0);
    expect(ghost.stderr).toContain('NOT_FOUND');
    const check = await cli('check', 'removed-after.bin', '--json');
    expect(check.code).toBe(1);
    expect(check.stdout.toString()).toContain('unrecoverable');
    await stack.stop({ keepData: true });
    stack = undefined;

    // The file protected after the backup is rebuilt offline from its shares on the relays.
    const out = join(work, 'recovered');
    const recovered = await cli('recover', '--out', out, ...[1, 2, 3].map((i) => join(dataDir, 'relays', `relay-${i}`)));
    expect(recovered.stderr).not.toContain('after-backup.bin: failed');
    expect(sha(readFileSync(join(out, 'after-backup.bin')))).toBe(sha(files.get('after-backup.bin')!));
  } finally {
    await stack?.stop({ keepData: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

test('PostgreSQL: pg_dump while running -> destroy -> restore -> every file of the backup retrievable', async () => {
  const found = await findPostgres(process.env);
  test.skip(!found.url, `PostgreSQL not reachable (${found.how})`);
  const name = `kofn_e2e_backup_${randomBytes(6).toString('hex')}`;
  const server = postgres(found.url!, { max: 1, onnotice: () => undefined });
  const target = new URL(found.url!);
  target.pathname = `/${name}`;
  const work = mkdtempSync(join(tmpdir(), 'kofn-backup-pg-'));
  try {
    await server.unsafe(`create database ${name}`);
    await scenario(work, {
      databaseUrl: target.toString(),
      destroy: async () => {
        await server.unsafe(`drop database ${name} with (force)`);
        await server.unsafe(`create database ${name}`);
      }
    });
  } finally {
    await server.unsafe(`drop database if exists ${name} with (force)`).catch(() => undefined);
    await server.end({ timeout: 5 });
    rmSync(work, { recursive: true, force: true });
  }
});

test('PGlite: offline dump -> destroy -> restore -> every file of the backup retrievable', async () => {
  const work = mkdtempSync(join(tmpdir(), 'kofn-backup-pglite-'));
  try {
    await scenario(work, {
      destroy: (dataDir) => {
        rmSync(join(dataDir, 'db'), { recursive: true, force: true });
        return Promise.resolve();
      }
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

/** Signs in as ADMIN over HTTP and empties the trash (`DELETE /api/trash`), as the Trash view's button does. */
async function emptyTrash(url: string): Promise<void> {
  const login = await fetch(`${url}/api/login`, {
    method: 'POST',
    headers: { origin: url, 'content-type': 'application/json' },
    body: JSON.stringify({ email: ADMIN.email, password: ADMIN.password })
  });
  expect(login.status).toBe(200);
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  const cookie = login.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const emptied = await fetch(`${url}/api/trash`, { method: 'DELETE', headers: { origin: url, cookie, 'x-csrf-token': csrfToken } });
  expect(emptied.status).toBe(200);
  expect(((await emptied.json()) as { files: number }).files).toBe(1);
}
