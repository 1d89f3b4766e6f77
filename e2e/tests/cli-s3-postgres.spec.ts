/**
 * The `kofn` CLI against the other storage and database backends (issue #20 item 5): a private stack whose
 * relays store on S3 (a real s3rver on loopback, path-style, its development credentials) and whose
 * coordinator runs on PostgreSQL (a fresh database at 127.0.0.1:5432): protect, then retrieve byte-identical.
 */
// s3rver ships no types: the relay tests declare the part they use (a declaration file, so not importable).
// eslint-disable-next-line @typescript-eslint/triple-slash-reference
/// <reference path="../../relay/src/testing/s3rver.d.ts" />
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import postgres from 'postgres';
import { test, expect, ADMIN } from '../fixtures.js';
import { startStack } from '../stack.js';
import { startS3 } from '../../relay/src/testing/s3.js';
import { runNode, type NodeRun } from '../run-node.js';

const BIN = resolve(import.meta.dirname, '../../shared/bin/kofn.mjs');
const PG = 'postgres://postgres@127.0.0.1:5432';

function kofn(args: string[], configDir: string, input = ''): Promise<NodeRun> {
  return runNode(BIN, args, { env: { KOFN_CONFIG_DIR: configDir }, input });
}

test('CLI round trip against S3 relays and a PostgreSQL coordinator: protect and retrieve byte-identical', async () => {
  test.setTimeout(180_000);
  const dbName = `kofn_e2e_cli_${randomBytes(6).toString('hex')}`;
  const admin = postgres(`${PG}/test`, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`CREATE DATABASE ${dbName}`);
  const s3 = await startS3();
  const work = mkdtempSync(join(tmpdir(), 'kofn-cli-s3pg-'));
  const relays = 5;
  // A bucket per relay, as separate operators would have.
  for (let i = 1; i <= relays; i++) expect((await fetch(`${s3.endpoint}/relay-${i}`, { method: 'PUT' })).ok).toBe(true);
  const s3env = (i: number) => ({
    KOFN_RELAY_STORAGE: 'S3',
    KOFN_RELAY_S3_BUCKET: `relay-${i}`,
    // An S3 relay keeps its identity (relay-id, key, enrollment) here, not in the bucket: one folder each.
    KOFN_RELAY_STATE: mkdirSync(join(work, `state-${i}`), { recursive: true }) ?? join(work, `state-${i}`),
    AWS_REGION: s3.region,
    KOFN_RELAY_S3_ENDPOINT: s3.endpoint,
    KOFN_RELAY_S3_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey
  });
  const stack = await startStack({
    relays,
    tier: 'Pro',
    databaseUrl: `${PG}/${dbName}`,
    relayEnv: Object.fromEntries(Array.from({ length: relays }, (_, i) => [`relay-${i + 1}`, s3env(i + 1)]))
  });
  try {
    const configDir = join(work, 'config');
    const setup = await fetch(`${stack.url}/api/setup`, { method: 'POST', headers: { origin: stack.url, 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
    expect(setup.ok).toBe(true);
    const login = await kofn(['login', stack.url, '--email', ADMIN.email, '--password-stdin'], configDir, `${ADMIN.password}\n`);
    expect(login.code, login.stderr).toBe(0);
    const data = randomBytes(5 * 1024 * 1024 + 13);
    const path = join(work, 's3pg.bin');
    writeFileSync(path, data);
    const up = await kofn(['protect', path, '-k', '3', '--servers', stack.relayProcs.map((r) => r.name).join(',')], configDir);
    expect(up.code, up.stderr).toBe(0);
    const down = await kofn(['retrieve', 's3pg.bin', '-o', '-'], configDir);
    expect(down.code, down.stderr).toBe(0);
    expect(createHash('sha256').update(down.stdout).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    // The shares are in the bucket (one object per share chunk), not on the relays' disks.
    const listed = await fetch(`${s3.endpoint}/relay-1?list-type=2`);
    expect(await listed.text()).toContain('<Key>');
    // And the coordinator's rows are in PostgreSQL.
    const db = postgres(`${PG}/${dbName}`, { max: 1, onnotice: () => undefined });
    try {
      const rows = await db.unsafe(`SELECT count(*)::int AS n FROM files WHERE name = 's3pg.bin'`);
      expect(rows[0]!.n).toBe(1);
    } finally {
      await db.end();
    }
  } finally {
    await stack.stop();
    await s3.stop();
    rmSync(work, { recursive: true, force: true });
    await admin.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
});
