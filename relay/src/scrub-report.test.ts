/**
 * `--scrub` of an enrolled relay reports what it found to the coordinator (issue #16), signed with the
 * relay's own key over the scrub route, as a heartbeat is. The coordinator here is a small loopback HTTP
 * server that verifies the signature as the real one does (web/src/lib/server/health.test.ts tests the
 * coordinator's side against this same message shape).
 */
import { spawn } from 'node:child_process';
import { createPublicKey, verify } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RELAY_HEARTBEAT_PATH, RELAY_SCRUB_PATH, RELAY_SIGNATURE_HEADER, parseScrubReport, relaySigningInput, type RelayScrubReport } from '@kofn/shared';
import { startRelayProcess, type RelayProcess } from './testing/process.js';
import { newFileId, shareChunk } from './testing/chunks.js';
import { loadOrCreateRelayKey, saveEnrollment } from './identity.js';

const RELAY_ID = '00000000-0000-4000-8000-0000000000a7';
const MAIN = join(import.meta.dirname, '..', 'dist', 'main.js');

interface Received {
  path: string;
  report: RelayScrubReport;
  signatureValid: boolean;
  signedForHeartbeat: boolean;
}

let relay: RelayProcess;
let server: Server;
let coordinator = '';
const received: Received[] = [];
/** What the fake coordinator answers next (status, body); default 200. */
const answers: Array<[number, object]> = [];
const fid = newFileId();

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => res(Buffer.concat(parts)));
  });
}

function scrub(dataDir: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [MAIN, '--scrub'], {
      env: { ...process.env, KOFN_RELAY_DATA: dataDir, KOFN_COORDINATOR: coordinator, KOFN_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe']
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => res({ code, out, err }));
  });
}

beforeAll(async () => {
  relay = await startRelayProcess(RELAY_ID, {});
  for (const index of [0, 1, 2]) {
    const token = await relay.signer.mint({ fid, op: 'put', chunks: [index, index], max: 1 << 20 });
    const res = await fetch(`${relay.url}/v1/files/${fid}/chunks/${index}`, { method: 'PUT', headers: { Authorization: `Bearer ${token}` }, body: Buffer.from(shareChunk(fid, index, 4096, 3)) });
    expect(res.status).toBe(201);
  }
  await relay.stop();
  // Bit rot in chunk 1: one byte flipped on disk, the name (its recorded digest) unchanged.
  const dir = join(relay.dataDir, 'chunks', fid.slice(0, 2), fid);
  const name = readdirSync(dir).find((n) => n.startsWith('1.'))!;
  const bytes = readFileSync(join(dir, name));
  bytes[100]! ^= 0x40;
  writeFileSync(join(dir, name), bytes);

  server = createServer((req, res) => {
    void readAll(req).then((body) => {
      const key = loadOrCreateRelayKey(relay.dataDir);
      const pub = createPublicKey(key.privateKey);
      const sig = Buffer.from(String(req.headers[RELAY_SIGNATURE_HEADER] ?? ''), 'base64url');
      received.push({
        path: req.url ?? '',
        report: parseScrubReport(JSON.parse(body.toString()) as unknown),
        signatureValid: verify(null, relaySigningInput(RELAY_SCRUB_PATH, body), pub, sig),
        signedForHeartbeat: verify(null, relaySigningInput(RELAY_HEARTBEAT_PATH, body), pub, sig)
      });
      const [status, answer] = answers.shift() ?? [200, { ok: true, damagedFiles: 1 }];
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  coordinator = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // The relay was enrolled at this coordinator: its key and enrollment record are in its folder.
  const key = loadOrCreateRelayKey(relay.dataDir);
  saveEnrollment(relay.dataDir, { relayId: RELAY_ID, coordinator, publicKey: key.publicKey });
}, 30_000);

afterAll(async () => {
  // Unset when beforeAll failed.
  await (relay as RelayProcess | undefined)?.stop();
  await new Promise((r) => (server as Server | undefined)?.close(r));
});

describe('--scrub of an enrolled relay', () => {
  it('reports the damaged chunk to the coordinator, signed by the relay key for the scrub route only', { timeout: 20_000 }, async () => {
    received.length = 0;
    const r = await scrub(relay.dataDir);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual({ checked: 3, corrupt: [{ fileId: fid, index: 1 }] });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ path: RELAY_SCRUB_PATH, signatureValid: true, signedForHeartbeat: false });
    expect(received[0]!.report).toMatchObject({ relayId: RELAY_ID, checked: 3, corrupt: [{ fileId: fid, index: 1 }] });
    expect(Math.abs(received[0]!.report.at - Date.now())).toBeLessThan(60_000);
    expect(r.err).toContain('reported to the coordinator (1 file(s)');
  });

  it('retries a message refused as already seen with a later timestamp', { timeout: 20_000 }, async () => {
    received.length = 0;
    answers.push([401, { error: { code: 'RELAY_SIGNATURE_INVALID', message: 'This message from the storage server was already received (replay).' } }]);
    const r = await scrub(relay.dataDir);
    expect(r.code).toBe(1);
    expect(received).toHaveLength(2);
    expect(received[1]!.report.at).toBeGreaterThan(received[0]!.report.at);
    expect(received.every((m) => m.signatureValid)).toBe(true);
  });

  it('a refused report is an error the operator sees (exit 3), not silence', { timeout: 20_000 }, async () => {
    received.length = 0;
    answers.push([410, { error: { code: 'ENROLLMENT_REQUIRED', message: 'enrol again' } }]);
    const r = await scrub(relay.dataDir);
    expect(r.code).toBe(3);
    expect(r.err).toContain('could not report to the coordinator');
    expect(r.err).toContain('ENROLLMENT_REQUIRED');
    expect(received).toHaveLength(1);
  });
});
