/**
 * The relay reads the coordinator's key set bounded in size as well as in time (issue #13: every read of
 * another party's answer is bounded). A coordinator (or whoever answers at its address) that sends an
 * endless key set must not make the relay buffer it: the fetch is cut a little past the bound, and the
 * request is refused as an outage (503 UNAVAILABLE), not as a bad token.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, generateKeyPair, exportJWK } from 'jose';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_ISSUER } from '@kofn/shared';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { coordinatorKeys } from './coordinator-keys.js';
import { testRelay, RELAY_ID } from './testing/app.js';
import { newFileId } from './testing/chunks.js';

const CAP_BYTES = 256 * 1024 * 1024;

describe('the coordinator\u2019s key set, read bounded', () => {
  let server: Server;
  let url = '';
  let mode: 'honest' | 'endless' | 'bad-gateway' = 'honest';
  let written = 0;
  let jwks = '';
  const open = new Set<ServerResponse>();
  let t: Awaited<ReturnType<typeof testRelay>>;
  const pair = generateKeyPair('EdDSA', { crv: 'Ed25519' });

  beforeAll(async () => {
    t = await testRelay();
    const { publicKey } = await pair;
    jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'EdDSA', use: 'sig' }] });
    server = createServer((req, res) => {
      if (mode === 'honest') return void res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
      if (mode === 'bad-gateway') return void res.writeHead(502).end('bad gateway');
      open.add(res);
      res.once('close', () => open.delete(res));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys":[');
      const piece = Buffer.from(`${jwks.slice(9, -2)},`.repeat(256));
      const timer = setInterval(() => {
        if (res.destroyed || written >= CAP_BYTES) {
          clearInterval(timer);
          return;
        }
        res.write(piece);
        written += piece.length;
      }, 0);
      res.once('close', () => clearInterval(timer));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const r of open) r.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const token = async (fid: string) =>
    new SignJWT({ op: 'get', fid, chunks: [0, 0] })
      .setProtectedHeader({ alg: 'EdDSA', kid: 'k1' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(RELAY_ID)
      .setSubject('s')
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign((await pair).privateKey);

  const appWith = () =>
    createApp({ config: loadConfig(undefined, { KOFN_RELAY_NAME: 'relay-t', KOFN_RELAY_DATA: t.root }), relayId: RELAY_ID, store: t.store, keys: coordinatorKeys(url, { timeoutMs: 5_000 }) });

  it('verifies tokens with an honest key set (the fixture works)', async () => {
    mode = 'honest';
    const fid = newFileId();
    const res = await appWith().request(`/v1/files/${fid}/chunks/0`, { headers: { Authorization: `Bearer ${await token(fid)}` } });
    // Signature accepted: the chunk is simply not there.
    expect(res.status).toBe(404);
  });

  it('cuts an endless key set a little past the bound and answers 503 UNAVAILABLE', async () => {
    mode = 'endless';
    written = 0;
    const fid = newFileId();
    const t0 = performance.now();
    const res = await appWith().request(`/v1/files/${fid}/chunks/0`, { headers: { Authorization: `Bearer ${await token(fid)}` } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    // 64 KiB bound; what was written beyond it is what the sockets buffered before the relay hung up.
    expect(written).toBeLessThan(16 * 1024 * 1024);
    expect(performance.now() - t0).toBeLessThan(4_000);
  });

  it('answers 503 UNAVAILABLE, not TOKEN_INVALID, when the key set is behind a 502 or nobody answers', async () => {
    mode = 'bad-gateway';
    const fid = newFileId();
    const proxied = await appWith().request(`/v1/files/${fid}/chunks/0`, { headers: { Authorization: `Bearer ${await token(fid)}` } });
    expect(proxied.status).toBe(503);
    expect(((await proxied.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    // A port nobody listens on (a coordinator that died): connection refused.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    const dead = createApp({
      config: loadConfig(undefined, { KOFN_RELAY_NAME: 'relay-t', KOFN_RELAY_DATA: t.root }),
      relayId: RELAY_ID,
      store: t.store,
      keys: coordinatorKeys(deadUrl, { timeoutMs: 5_000 })
    });
    const refused = await dead.request(`/v1/files/${fid}/chunks/0`, { headers: { Authorization: `Bearer ${await token(fid)}` } });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('UNAVAILABLE');
    mode = 'honest';
  });
});
