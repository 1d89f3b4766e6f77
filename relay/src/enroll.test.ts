/**
 * Relay identity with a real relay process against a stand-in coordinator (a loopback HTTP server that
 * checks what a real coordinator checks: the signature over route and body with the presented key).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { relaySigningInput } from '@kofn/shared';
import { postSigned } from './announce.js';
import { loadOrCreateRelayKey } from './identity.js';

const main = join(import.meta.dirname, '..', 'dist', 'main.js');
const ASSIGNED = '0b7e3c1a-2d4f-4a6b-8c9d-0e1f2a3b4c5d';

interface Seen {
  path: string;
  body: Record<string, unknown>;
  validSignature: boolean;
}

async function standIn(answer: (path: string, body: Record<string, unknown>) => { status: number; body: unknown }): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const keys = new Map<string, string>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const raw = Buffer.concat(parts);
      const body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      const path = req.url ?? '';
      const key = typeof body.publicKey === 'string' ? body.publicKey : keys.get(String(body.relayId));
      let validSignature = false;
      if (key) {
        const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key }, format: 'jwk' });
        validSignature = verify(null, relaySigningInput(path, raw), pub, Buffer.from(String(req.headers['x-kofn-relay-signature']), 'base64url'));
      }
      seen.push({ path, body, validSignature });
      const a = answer(path, body);
      if (path === '/api/relays/enroll' && a.status === 200) keys.set(ASSIGNED, String(body.publicKey));
      res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((r) => server.close(() => r()))
  };
}

const children: ChildProcess[] = [];
function startRelay(dataDir: string, env: Record<string, string>): { child: ChildProcess; listening: Promise<{ id: string }>; exit: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [main], {
    env: { ...process.env, KOFN_RELAY_NAME: 'enroll-test', KOFN_RELAY_DATA: dataDir, KOFN_RELAY_HOST: '127.0.0.1', KOFN_RELAY_HEARTBEAT: '0.2', KOFN_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const listening = new Promise<{ id: string }>((res) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line) as { event: string; id: string };
      if (msg.event === 'listening') res({ id: msg.id });
    });
  });
  const exit = new Promise<{ code: number | null; stderr: string }>((res) => child.once('exit', (code) => res({ code, stderr })));
  return { child, listening, exit };
}

/** A free loopback port: enrollment fixes the relay's URL, so the port must be known before it starts. */
function port(): Promise<string> {
  return new Promise((res) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => res(String(p)));
    });
  });
}

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

describe('relay enrollment and signed heartbeats (real relay process)', () => {
  it('refuses to start unenrolled without a token, and prints its key fingerprint for the operator', async () => {
    const coord = await standIn(() => ({ status: 500, body: {} }));
    const dataDir = mkdtempSync(join(tmpdir(), 'kofn-enroll-'));
    const { exit } = startRelay(dataDir, { KOFN_COORDINATOR: coord.url, KOFN_RELAY_PORT: await port() });
    const { code, stderr } = await exit;
    expect(code).toBe(1);
    expect(stderr).toContain('not enrolled');
    expect(stderr).toContain(loadOrCreateRelayKey(dataDir).fingerprint);
    expect(coord.seen).toHaveLength(0);
    await coord.close();
  });

  it('enrolls once with a signed request, takes the assigned id, then heartbeats signed with rising timestamps; a restart needs no token', async () => {
    const coord = await standIn((path) => (path === '/api/relays/enroll' ? { status: 200, body: { relayId: ASSIGNED } } : { status: 200, body: { ok: true } }));
    const dataDir = mkdtempSync(join(tmpdir(), 'kofn-enroll-'));
    const token = 'T'.repeat(43);
    const relayPort = await port();
    const first = startRelay(dataDir, { KOFN_COORDINATOR: coord.url, KOFN_RELAY_PORT: relayPort, KOFN_RELAY_ENROLLMENT_TOKEN: token });
    expect((await first.listening).id).toBe(ASSIGNED);
    await until(() => coord.seen.filter((s) => s.path === '/api/relays/heartbeat').length >= 3);
    const [enrollment, ...beats] = coord.seen;
    expect(enrollment).toMatchObject({ path: '/api/relays/enroll', validSignature: true, body: { token, url: `http://127.0.0.1:${relayPort}`, publicKey: loadOrCreateRelayKey(dataDir).publicKey } });
    expect(enrollment!.body.relayId).toBeUndefined();
    for (const b of beats) expect(b).toMatchObject({ path: '/api/relays/heartbeat', validSignature: true, body: { relayId: ASSIGNED } });
    const times = beats.map((b) => b.body.at as number);
    for (let i = 1; i < times.length; i++) expect(times[i]!).toBeGreaterThan(times[i - 1]!);
    first.child.kill('SIGTERM');
    await first.exit;

    coord.seen.length = 0;
    const second = startRelay(dataDir, { KOFN_COORDINATOR: coord.url, KOFN_RELAY_PORT: await port() });
    expect((await second.listening).id).toBe(ASSIGNED);
    await until(() => coord.seen.length >= 1);
    expect(coord.seen.every((s) => s.path === '/api/relays/heartbeat' && s.validSignature && s.body.relayId === ASSIGNED)).toBe(true);
    await coord.close();
  });

  it('stops with a clear message when the coordinator refuses the token', async () => {
    const coord = await standIn(() => ({ status: 401, body: { error: { code: 'ENROLLMENT_INVALID', message: 'x' } } }));
    const dataDir = mkdtempSync(join(tmpdir(), 'kofn-enroll-'));
    const { exit } = startRelay(dataDir, { KOFN_COORDINATOR: coord.url, KOFN_RELAY_PORT: await port(), KOFN_RELAY_ENROLLMENT_TOKEN: 'T'.repeat(43) });
    const { code, stderr } = await exit;
    expect(code).toBe(1);
    expect(stderr).toContain('ENROLLMENT_INVALID');
    await coord.close();
  });

  it('does not take an id from its environment when a coordinator assigns ids', async () => {
    const coord = await standIn(() => ({ status: 200, body: { relayId: ASSIGNED } }));
    const { exit } = startRelay(mkdtempSync(join(tmpdir(), 'kofn-enroll-')), {
      KOFN_COORDINATOR: coord.url,
      KOFN_RELAY_PORT: await port(),
      KOFN_RELAY_ENROLLMENT_TOKEN: 'T'.repeat(43),
      KOFN_RELAY_ID: '00000000-0000-4000-8000-000000000001'
    });
    expect((await exit).code).toBe(1);
    expect(coord.seen).toHaveLength(0);
    await coord.close();
  });
});

describe('reading the coordinator\u2019s answers', () => {
  let server: Server | undefined;
  afterAll(() => server?.close());

  it('aborts an endless answer at a small bound instead of reading it whole', async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = () => {
        while (res.write(chunk)) {
          /* keep writing until the socket pushes back */
        }
      };
      res.on('drain', pump);
      pump();
      res.on('close', () => res.destroy());
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const key = loadOrCreateRelayKey(mkdtempSync(join(tmpdir(), 'kofn-enroll-')));
    await expect(postSigned(url, '/api/relays/heartbeat', key, { a: 1 })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });
});
