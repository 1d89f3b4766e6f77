/**
 * Durability order of a stored chunk (issue #24, survivor 3): kill -9 cannot show a missing fsync (the
 * page cache survives a killed process), so this suite watches the real fs calls instead. The relay's
 * node:fs/promises is wrapped so that each fsync, link and rename is recorded when it completes; the calls
 * themselves are the real ones, on a real disk store, through the real PUT route.
 *
 * Required order before the 201 (or 200) is sent: the spool file is fsynced, then hard-linked into the
 * chunk folder, then that folder is fsynced (so the new name survives a power cut too).
 */
import { join, relative } from 'node:path';
import { beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { testRelay } from '../testing/app.js';
import { newFileId, shareChunk } from '../testing/chunks.js';

const events: string[] = [];

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const open: typeof real.open = async (path, flags, mode) => {
    const fh = await real.open(path, flags, mode);
    const sync = fh.sync.bind(fh);
    fh.sync = async () => {
      await sync();
      events.push(`fsync ${String(path)}`);
    };
    return fh;
  };
  const link: typeof real.link = async (from, to) => {
    await real.link(from, to);
    events.push(`link ${String(from)} -> ${String(to)}`);
  };
  return { ...real, default: { ...real, open, link }, open, link };
});

describe('PUT acknowledges a chunk only once it is durable', () => {
  let t: Awaited<ReturnType<typeof testRelay>>;
  beforeAll(async () => {
    t = await testRelay();
  });
  beforeEach(() => {
    events.length = 0;
  });

  /** The recorded events with the data folder cut off, and the spool file's random name replaced. */
  const trace = (): string[] => {
    const local = events.map((e) => e.replaceAll(`${t.root}/`, ''));
    const spool = local.map((e) => /^fsync (tmp\/[0-9a-f-]+\.part)$/.exec(e)?.[1]).find(Boolean);
    return local.map((e) => e.replaceAll(spool ?? '\0', 'tmp/SPOOL'));
  };

  async function put(fid: string, index: number, body: Uint8Array<ArrayBuffer>) {
    const token = await t.signer.mint({ fid, op: 'put', chunks: [index, index] });
    const res = await t.app.request(`/v1/files/${fid}/chunks/${index}`, {
      method: 'PUT',
      body,
      headers: { Authorization: `Bearer ${token}`, 'Content-Length': String(body.length) }
    });
    events.push(`answer ${res.status}`);
    return res;
  }

  it('fsyncs the spool file, links it, fsyncs the chunk folder, and only then answers 201', async () => {
    const fid = newFileId();
    const body = shareChunk(fid, 1, 5000);
    const res = await put(fid, 1, body);
    expect(res.status).toBe(201);
    const { digest } = (await t.store.head(fid, 1))!;
    const dir = relative(t.root, join(t.root, 'chunks', fid.slice(0, 2), fid));
    expect(trace()).toEqual([`fsync tmp/SPOOL`, `link tmp/SPOOL -> ${dir}/1.${digest}`, `fsync ${dir}`, 'answer 201']);
  });

  it('a repeated identical PUT links nothing and answers 200 (the first one made it durable)', async () => {
    const fid = newFileId();
    const body = shareChunk(fid, 2, 100);
    expect((await put(fid, 2, body)).status).toBe(201);
    events.length = 0;
    expect((await put(fid, 2, body)).status).toBe(200);
    // The second body is still spooled and synced before the store compares it, then thrown away.
    expect(trace()).toEqual(['fsync tmp/SPOOL', 'answer 200']);
  });
});
