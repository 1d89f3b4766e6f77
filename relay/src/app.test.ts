import { describe, expect, it, beforeAll } from 'vitest';
import { createHash } from 'node:crypto';
import { testRelay, ORIGIN } from './testing/app.js';
import { newFileId, shareChunk } from './testing/chunks.js';

type T = Awaited<ReturnType<typeof testRelay>>;
let t: T;
beforeAll(async () => {
  t = await testRelay();
});

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

async function putChunk(fid: string, index: number, body: Uint8Array<ArrayBuffer>, token?: string) {
  return t.app.request(`/v1/files/${fid}/chunks/${index}`, {
    method: 'PUT',
    body,
    headers: { ...bearer(token ?? (await t.signer.mint({ fid, op: 'put', chunks: [index, index] }))), 'Content-Length': String(body.length) }
  });
}

describe('GET /v1/health', () => {
  it('reports name, location, version and capacity', async () => {
    const res = await t.app.request('/v1/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'relay-t', location: 'Lab', storage: 'Disk', version: '0.1.0', usedBytes: expect.any(Number), freeBytes: expect.any(Number) });
  });

  it('sends security headers that forbid framing and sniffing, and a request id', async () => {
    const res = await t.app.request('/v1/health', { headers: { 'X-Request-Id': 'abc-123' } });
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-request-id')).toBe('abc-123');
    const other = await t.app.request('/v1/health', { headers: { 'X-Request-Id': '<script>' } });
    expect(other.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('GET /v1/ping', () => {
  it('answers 204 with no body and no caching', async () => {
    const res = await t.app.request('/v1/ping');
    expect(res.status).toBe(204);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });
});

describe('CORS', () => {
  it('grants the configured origin exactly, and answers its preflight for PUT with Authorization', async () => {
    const res = await t.app.request('/v1/ping', { headers: { Origin: ORIGIN } });
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    // The browser's relay client reads these: the digest, and Retry-After to wait as long as asked.
    expect(res.headers.get('access-control-expose-headers')?.toLowerCase()).toContain('retry-after');
    const pre = await t.app.request(`/v1/files/${newFileId()}/chunks/1`, {
      method: 'OPTIONS',
      headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'authorization' }
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-methods')).toContain('PUT');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
  });

  it.each(['http://evil.example', `${ORIGIN}.evil.example`, 'null', ORIGIN.toUpperCase()])('grants nothing to %s', async (origin) => {
    const res = await t.app.request('/v1/ping', { headers: { Origin: origin } });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('timing-allow-origin')).toBeNull();
  });

  it('lets the configured origin read its requests\u2019 network timings (the ping), and no other', async () => {
    const res = await t.app.request('/v1/ping', { headers: { Origin: ORIGIN } });
    expect(res.status).toBe(204);
    expect(res.headers.get('timing-allow-origin')).toBe(ORIGIN);
    expect((await t.app.request('/v1/ping')).headers.get('timing-allow-origin')).toBeNull();
  });
});

describe('PUT /v1/files/:fileId/chunks/:index', () => {
  it('stores a share chunk: 201 with size and digest', async () => {
    const fid = newFileId();
    const body = shareChunk(fid, 1, 1000);
    const res = await putChunk(fid, 1, body);
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ index: 1, size: body.length, digest: sha(body), created: true });
  });

  it('treats identical bytes as a no-op (200) and different bytes as 409', async () => {
    const fid = newFileId();
    const body = shareChunk(fid, 2, 100, 1);
    expect((await putChunk(fid, 2, body)).status).toBe(201);
    const again = await putChunk(fid, 2, body);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { created: boolean }).created).toBe(false);
    const other = await putChunk(fid, 2, shareChunk(fid, 2, 100, 2));
    expect(other.status).toBe(409);
    expect(await other.json()).toMatchObject({ error: { code: 'CONFLICT' } });
  });

  it('refuses a body whose header names another chunk (400 BAD_SHARE_FORMAT)', async () => {
    const fid = newFileId();
    const res = await putChunk(fid, 3, shareChunk(fid, 4, 10));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'BAD_SHARE_FORMAT' } });
  });

  it('refuses a token for another file (403)', async () => {
    const fid = newFileId();
    const token = await t.signer.mint({ fid: newFileId(), op: 'put' });
    const res = await putChunk(fid, 1, shareChunk(fid, 1), token);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: { code: 'TOKEN_OUT_OF_SCOPE' } });
  });
});

describe('GET / HEAD /v1/files/:fileId/chunks/:index', () => {
  it('returns the stored bytes with digest and no-store, and HEAD the size', async () => {
    const fid = newFileId();
    const body = shareChunk(fid, 1, 4096);
    await putChunk(fid, 1, body);
    const token = await t.signer.mint({ fid, op: 'get', chunks: [0, 9] });
    const res = await t.app.request(`/v1/files/${fid}/chunks/1`, { headers: bearer(token) });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-kofn-digest')).toBe(sha(body));
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(Buffer.from(await res.arrayBuffer()).equals(Buffer.from(body))).toBe(true);
    const head = await t.app.request(`/v1/files/${fid}/chunks/1`, { method: 'HEAD', headers: bearer(token) });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(body.length));
  });

  it('answers 404 with the Qasmat message for a missing chunk', async () => {
    const fid = newFileId();
    const res = await t.app.request(`/v1/files/${fid}/chunks/5`, { headers: bearer(await t.signer.mint({ fid, op: 'get' })) });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } });
  });

  it('refuses a put token for reading (403)', async () => {
    const fid = newFileId();
    const res = await t.app.request(`/v1/files/${fid}/chunks/1`, { headers: bearer(await t.signer.mint({ fid, op: 'put' })) });
    expect(res.status).toBe(403);
  });
});

describe('listing and deleting', () => {
  it('lists a file chunks with digests (op list), deletes one (op delete), then the file (op delete_file)', async () => {
    const fid = newFileId();
    const bodies = [0, 1, 2].map((i) => shareChunk(fid, i, 50));
    for (const [i, b] of bodies.entries()) await putChunk(fid, i, b);
    const list = await t.app.request(`/v1/files/${fid}/chunks`, { headers: bearer(await t.signer.mint({ fid, op: 'list' })) });
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ fileId: fid, chunks: bodies.map((b, i) => ({ index: i, size: b.length, digest: sha(b) })) });
    const del = await t.app.request(`/v1/files/${fid}/chunks/1`, { method: 'DELETE', headers: bearer(await t.signer.mint({ fid, op: 'delete' })) });
    expect(await del.json()).toEqual({ deleted: true });
    const delFile = await t.app.request(`/v1/files/${fid}`, { method: 'DELETE', headers: bearer(await t.signer.mint({ fid, op: 'delete_file' })) });
    expect(await delFile.json()).toEqual({ deleted: 2 });
    const again = await t.app.request(`/v1/files/${fid}`, { method: 'DELETE', headers: bearer(await t.signer.mint({ fid, op: 'delete_file' })) });
    expect(await again.json()).toEqual({ deleted: 0 });
  });

  it('refuses listing without a token and deleting with a get token', async () => {
    const fid = newFileId();
    expect((await t.app.request(`/v1/files/${fid}/chunks`)).status).toBe(401);
    const res = await t.app.request(`/v1/files/${fid}`, { method: 'DELETE', headers: bearer(await t.signer.mint({ fid, op: 'get' })) });
    expect(res.status).toBe(403);
  });

  it('refuses a malformed file id on the whole-file routes (400)', async () => {
    const fid = newFileId();
    const token = await t.signer.mint({ fid, op: 'delete_file' });
    const res = await t.app.request(`/v1/files/${fid.toUpperCase()}`, { method: 'DELETE', headers: bearer(token) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
  });
});

describe('whole-file scope (issue #13 item 9)', () => {
  const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
  const stored = async (fid: string) =>
    ((await (await t.app.request(`/v1/files/${fid}/chunks`, { headers: bearer(await t.signer.mint({ fid, op: 'list' })) })).json()) as { chunks: unknown[] }).chunks.length;

  it('a delete token for one chunk, or for every chunk, cannot delete the whole file', async () => {
    const fid = newFileId();
    for (const i of [0, 1, 2]) await putChunk(fid, i, shareChunk(fid, i, 30));
    for (const chunks of [
      [1, 1],
      [0, 1000]
    ] as Array<[number, number]>) {
      const res = await t.app.request(`/v1/files/${fid}`, { method: 'DELETE', headers: bearer(await t.signer.mint({ fid, op: 'delete', chunks })) });
      expect(res.status).toBe(403);
      expect(await code(res)).toBe('TOKEN_OUT_OF_SCOPE');
    }
    expect(await stored(fid)).toBe(3);
  });

  it('a delete_file token cannot delete a single chunk, nor one for another file delete this one', async () => {
    const fid = newFileId();
    await putChunk(fid, 0, shareChunk(fid, 0, 30));
    const chunk = await t.app.request(`/v1/files/${fid}/chunks/0`, { method: 'DELETE', headers: bearer(await t.signer.mint({ fid, op: 'delete_file' })) });
    expect(chunk.status).toBe(403);
    expect(await code(chunk)).toBe('TOKEN_OUT_OF_SCOPE');
    const other = await t.app.request(`/v1/files/${fid}`, { method: 'DELETE', headers: bearer(await t.signer.mint({ fid: newFileId(), op: 'delete_file' })) });
    expect(other.status).toBe(403);
    expect(await stored(fid)).toBe(1);
  });

  it('listing needs a list token for this very file', async () => {
    const fid = newFileId();
    await putChunk(fid, 0, shareChunk(fid, 0, 30));
    for (const token of [await t.signer.mint({ fid: newFileId(), op: 'list' }), await t.signer.mint({ fid, op: 'get' }), await t.signer.mint({ fid, op: 'delete_file' })]) {
      const res = await t.app.request(`/v1/files/${fid}/chunks`, { headers: bearer(token) });
      expect(res.status).toBe(403);
      expect(await code(res)).toBe('TOKEN_OUT_OF_SCOPE');
    }
  });
});
