/**
 * `--scrub` beside a serving relay (a cron job on the relay's host): it only reads. It used to run the
 * store's start-up cleanup, which deletes the spool folder, so every upload in flight at that moment
 * lost its spool file and failed.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRelayProcess, type RelayProcess } from './testing/process.js';
import { newFileId, shareChunk } from './testing/chunks.js';

const RELAY_ID = '00000000-0000-4000-8000-0000000000ef';
const MAIN = join(import.meta.dirname, '..', 'dist', 'main.js');
let relay: RelayProcess | undefined;
afterAll(async () => {
  await relay?.stop();
});

function scrub(dataDir: string): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [MAIN, '--scrub'], {
      env: { ...process.env, KOFN_RELAY_DATA: dataDir, KOFN_RELAY_ID: RELAY_ID, KOFN_COORDINATOR: '', KOFN_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit']
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => res({ code, out }));
  });
}

async function until(check: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!check()) {
    if (Date.now() - t0 > ms) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('--scrub beside a serving relay', () => {
  it('leaves an upload in flight intact: it completes with 201 and reads back', { timeout: 30_000 }, async () => {
    relay = await startRelayProcess(RELAY_ID, {});
    const fid = newFileId();
    const body = Buffer.from(shareChunk(fid, 1, 256 * 1024, 9));
    const token = await relay.signer.mint({ fid, op: 'put', chunks: [1, 1], max: 1 << 20 });
    const socket = connect(relay.port, '127.0.0.1');
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    const closed = new Promise<void>((res) => socket.on('close', () => res()));
    socket.write(`PUT /v1/files/${fid}/chunks/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
    socket.write(body.subarray(0, body.length >> 1));
    // The first half is in the relay's spool file now.
    await until(() => readdirSync(join(relay!.dataDir, 'tmp')).length > 0, 5_000);

    const result = await scrub(relay.dataDir);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toMatchObject({ corrupt: [] });

    // Connection: close: the relay closes the socket once it has answered.
    socket.write(body.subarray(body.length >> 1));
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 201 /);
    const get = await fetch(`${relay.url}/v1/files/${fid}/chunks/1`, { headers: { Authorization: `Bearer ${await relay.signer.mint({ fid, op: 'get', chunks: [1, 1] })}` } });
    expect(Buffer.from(await get.arrayBuffer()).equals(body)).toBe(true);
  });
});
