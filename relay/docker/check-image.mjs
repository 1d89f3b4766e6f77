#!/usr/bin/env node
/** Runs the relay image on the host network and checks it end to end. Exits non-zero on any failure. */
import { execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { HEADER_BYTES, TOKEN_ISSUER, fileIdFromHex, writeHeader, FLAG_FINAL } from '@kofn/shared';

const image = process.argv[2] ?? 'kofn/relay:test';
const docker = (...args) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
const port = await new Promise((res) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => res(p));
  });
});
const relayId = randomUUID();
const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
const data = mkdtempSync(join(tmpdir(), 'kofn-image-data-'));
chownSync(data, 10001, 10001);
const name = `kofn-relay-check-${process.pid}`;
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

docker(
  'run',
  '-d',
  '--name',
  name,
  '--network',
  'host',
  '-v',
  `${data}:/data`,
  '-e',
  'KOFN_RELAY_HOST=127.0.0.1',
  '-e',
  `KOFN_RELAY_PORT=${port}`,
  '-e',
  `KOFN_RELAY_ID=${relayId}`,
  '-e',
  'KOFN_RELAY_NAME=docker-relay',
  '-e',
  `KOFN_TOKEN_PUBLIC_JWK=${JSON.stringify(await exportJWK(publicKey))}`,
  image
);
try {
  const base = `http://127.0.0.1:${port}`;
  let health;
  for (let i = 0; i < 50 && !health; i++) {
    health = await fetch(`${base}/v1/health`).then(
      (r) => (r.ok ? r.json() : undefined),
      () => undefined
    );
    if (!health) await new Promise((r) => setTimeout(r, 200));
  }
  check(health?.name === 'docker-relay' && health?.storage === 'Disk', 'health answers from the container');
  check(docker('exec', name, 'id', '-u') === '10001', 'runs as uid 10001, not root');

  const fid = randomBytes(16).toString('hex');
  const body = new Uint8Array(HEADER_BYTES + 4096);
  writeHeader(body, { flags: FLAG_FINAL, x: 3, k: 2, fileId: fileIdFromHex(fid), index: 1, epoch: 0, bodyLength: 4096 });
  body.set(randomBytes(4096), HEADER_BYTES);
  const token = (op) =>
    new SignJWT({ fid, op, chunks: [0, 5], max: 1 << 20 })
      .setProtectedHeader({ alg: 'EdDSA' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(relayId)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
  const put = await fetch(`${base}/v1/files/${fid}/chunks/1`, { method: 'PUT', body, headers: { Authorization: `Bearer ${await token('put')}` } });
  check(put.status === 201, `PUT with a capability token -> ${put.status}`);
  const unauth = await fetch(`${base}/v1/files/${fid}/chunks/1`);
  check(unauth.status === 401, `GET without a token -> ${unauth.status}`);
  const get = await fetch(`${base}/v1/files/${fid}/chunks/1`, { headers: { Authorization: `Bearer ${await token('get')}` } });
  const got = Buffer.from(await get.arrayBuffer());
  check(get.status === 200 && got.equals(Buffer.from(body)), 'GET returns the same bytes');

  const dir = join(data, 'chunks', fid.slice(0, 2), fid);
  const files = readdirSync(dir);
  const digest = createHash('sha256').update(body).digest('hex');
  check(files.length === 1 && files[0] === `1.${digest}`, 'the chunk is on the volume, named with its checksum');
  check(statSync(join(dir, files[0])).uid === 10001, 'volume files belong to uid 10001');

  let status = '';
  for (let i = 0; i < 40 && status !== 'healthy'; i++) {
    status = docker('inspect', '--format', '{{.State.Health.Status}}', name);
    if (status !== 'healthy') await new Promise((r) => setTimeout(r, 1000));
  }
  check(status === 'healthy', `Docker healthcheck reports ${status}`);
} finally {
  docker('rm', '-f', name);
}
console.log(failures.length === 0 ? 'docker image test: all checks passed' : `docker image test: ${failures.length} FAILED`);
process.exit(failures.length === 0 ? 0 : 1);
