/**
 * A full disk, for real: the relay's data root on a 2 MiB tmpfs. Uploads past the space get 507 with a
 * code, leave no spool file, and everything stored before is still served.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { DiskStore } from './storage/disk.js';
import { makeSigner, type Signer } from './testing/tokens.js';
import { newFileId, shareChunk } from './testing/chunks.js';
import { RELAY_ID } from './testing/app.js';

const mountPoint = mkdtempSync(join(tmpdir(), 'kofn-enospc-'));
let signer: Signer;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  // Needs root (CI and this project's machines run as root); a failure here is a real failure.
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint]);
  const store = new DiskStore(mountPoint);
  await store.init();
  signer = await makeSigner(RELAY_ID);
  app = createApp({ config: loadConfig(undefined, { KOFN_RELAY_DATA: mountPoint }), relayId: RELAY_ID, store, keys: signer.publicKey });
});

afterAll(() => {
  execFileSync('umount', [mountPoint]);
});

describe('disk full', () => {
  it('answers 507 INSUFFICIENT_STORAGE, removes spool files and keeps serving reads', async () => {
    const fid = newFileId();
    const token = await signer.mint({ fid, op: 'put', chunks: [0, 100], max: 1 << 20 });
    const stored: Array<[number, Uint8Array]> = [];
    let full: Response | undefined;
    for (let i = 1; i <= 20 && !full; i++) {
      const body = shareChunk(fid, i, 300 * 1024);
      const res = await app.request(`/v1/files/${fid}/chunks/${i}`, { method: 'PUT', body, headers: { Authorization: `Bearer ${token}` } });
      if (res.status === 201) stored.push([i, body]);
      else full = res;
    }
    expect(full?.status).toBe(507);
    expect(await full!.json()).toMatchObject({ error: { code: 'INSUFFICIENT_STORAGE', message: 'The storage server is full.' } });
    expect(stored.length).toBeGreaterThanOrEqual(3);
    expect(readdirSync(join(mountPoint, 'tmp'))).toEqual([]);
    const read = await signer.mint({ fid, op: 'get', chunks: [0, 100] });
    for (const [i, body] of stored) {
      const res = await app.request(`/v1/files/${fid}/chunks/${i}`, { headers: { Authorization: `Bearer ${read}` } });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(body))).toBe(true);
    }
    const health = await app.request('/v1/health');
    expect(health.status).toBe(200);
  });
});
