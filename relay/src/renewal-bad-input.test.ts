/**
 * The relay bad-input suite for the renewal routes (#15; bad-input.test.ts covers the chunk routes):
 * wrong scope, wrong epoch, wrong dealer, replayed, oversized, malformed, from an unknown party. Every
 * answer is a 4xx with a stable code, never a 5xx, and nothing is stored.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from 'jose';
import { HEADER_BYTES, MAX_EPOCH, writeHeader, parseHeader, type ShareHeader } from '@kofn/shared';
import { MAX_DEAL_BODY_BYTES, contributionId, epochId, receiversHash } from './renewal.js';
import { testRelay, RELAY_ID } from './testing/app.js';
import { newFileId, shareChunk } from './testing/chunks.js';
import type { Signer } from './testing/tokens.js';

let app: Awaited<ReturnType<typeof testRelay>>['app'];
let store: Awaited<ReturnType<typeof testRelay>>['store'];
let signer: Signer;
const FID = newFileId();
const OTHER = newFileId();

beforeAll(async () => {
  ({ app, store, signer } = await testRelay());
  // Epoch 0 of FID: chunks 0 and 1, as uploaded.
  const token = await signer.mint({ fid: FID, op: 'put', chunks: [0, 1] });
  for (const i of [0, 1]) {
    const res = await app.request(`/v1/files/${FID}/chunks/${i}`, { method: 'PUT', headers: { Authorization: `Bearer ${token}` }, body: shareChunk(FID, i) });
    expect(res.status).toBe(201);
  }
});

afterAll(async () => {
  await store.deleteFile(FID);
});

async function expectCode(res: Response, status: number, code: string): Promise<void> {
  const body = (await res.json()) as { error?: { code?: string } };
  expect({ status: res.status, code: body.error?.code }).toEqual({ status, code });
}

/** A contribution of dealer `dx` to chunk `index` of epoch `epoch`, fitting this relay's share (x = 1, k = 2). */
function contribution(index: number, epoch: number, over: Partial<ShareHeader> = {}, fid = FID): Uint8Array<ArrayBuffer> {
  const base = parseHeader(shareChunk(fid, index));
  const out = new Uint8Array(HEADER_BYTES + base.bodyLength);
  writeHeader(out, { ...base, epoch, ...over });
  out.fill(index + 1, HEADER_BYTES);
  return out;
}

const putContribution = (path: string, token: string, body: BodyInit | null, headers: Record<string, string> = {}) =>
  app.request(`/v1/files/${path}`, { method: 'PUT', headers: { Authorization: `Bearer ${token}`, ...headers }, body });
const renewPut = (over: Record<string, unknown> = {}) => signer.mint({ fid: FID, op: 'renew_put', ep: 1, dx: 7, chunks: [0, 1], max: 1000, ...over });
const post = (path: string, token: string, body: unknown) =>
  app.request(`/v1/files/${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: typeof body === 'string' ? body : JSON.stringify(body) });

describe('PUT contribution (renew_put)', () => {
  it('happy: stored once (201), the same bytes again are a no-op (200)', async () => {
    const token = await renewPut();
    expect((await putContribution(`${FID}/epochs/1/from/7/chunks/0`, token, contribution(0, 1))).status).toBe(201);
    expect((await putContribution(`${FID}/epochs/1/from/7/chunks/0`, token, contribution(0, 1))).status).toBe(200);
  });

  it('check pads: on a chunk other than 0, malformed, or of a length not a multiple of 16 -> 400; changed once sent -> 409', async () => {
    const pad = (bytes: number, fill = 1) => ({ 'x-kofn-check-pad': Buffer.alloc(bytes, fill).toString('base64url') });
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/1`, await renewPut(), contribution(1, 1), pad(16)), 400, 'BAD_REQUEST');
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/0`, await renewPut(), contribution(0, 1), pad(17)), 400, 'BAD_REQUEST');
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/0`, await renewPut(), contribution(0, 1), { 'x-kofn-check-pad': 'not+base64/url=' }), 400, 'BAD_REQUEST');
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/0`, await renewPut(), contribution(0, 1), pad(5000)), 400, 'BAD_REQUEST');
    // The contribution of dealer 7 to chunk 0 is stored (the test above); its pads come with a retry of it.
    expect((await putContribution(`${FID}/epochs/1/from/7/chunks/0`, await renewPut(), contribution(0, 1), pad(16))).status).toBe(200);
    expect((await putContribution(`${FID}/epochs/1/from/7/chunks/0`, await renewPut(), contribution(0, 1), pad(16))).status).toBe(200);
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/0`, await renewPut(), contribution(0, 1), pad(16, 2)), 409, 'CONFLICT');
  });

  it('replayed with other bytes: a dealer cannot change its contribution once stored -> 409 CONFLICT', async () => {
    const token = await renewPut();
    const other = contribution(0, 1);
    other[HEADER_BYTES]! ^= 1;
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/0`, token, other), 409, 'CONFLICT');
  });

  it.each([
    ['wrong epoch in the token', { ep: 2 }, `${FID}/epochs/1/from/7/chunks/1`],
    ['wrong dealer in the token (one dealer posing as another)', { dx: 8 }, `${FID}/epochs/1/from/7/chunks/1`],
    ['another file', { fid: OTHER }, `${FID}/epochs/1/from/7/chunks/1`],
    ['chunk outside the range', { chunks: [0, 0] }, `${FID}/epochs/1/from/7/chunks/1`],
    ['a put token (wrong op)', { op: 'put' }, `${FID}/epochs/1/from/7/chunks/1`]
  ])('%s -> 403 TOKEN_OUT_OF_SCOPE', async (_n, over, path) => {
    await expectCode(await putContribution(path, await renewPut(over), contribution(1, 1)), 403, 'TOKEN_OUT_OF_SCOPE');
  });

  it.each([
    ['renew_put without ep', { ep: undefined }],
    ['renew_put without dx', { dx: undefined }],
    ['dx 0', { dx: 0 }],
    ['ep above 2^32-1', { ep: MAX_EPOCH + 1 }],
    ['ep negative', { ep: -1 }]
  ])('malformed claims (%s) -> 401 TOKEN_INVALID', async (_n, over) => {
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/1`, await renewPut(over), contribution(1, 1)), 401, 'TOKEN_INVALID');
  });

  it.each([
    ['epoch 0 (nothing renews into 0)', `${FID}/epochs/0/from/7/chunks/1`],
    ['epoch with a leading zero', `${FID}/epochs/01/from/7/chunks/1`],
    ['epoch 2^32', `${FID}/epochs/4294967296/from/7/chunks/1`],
    ['dealer x 0', `${FID}/epochs/1/from/0/chunks/1`],
    ['dealer x 256', `${FID}/epochs/1/from/256/chunks/1`],
    ['dealer x not a number', `${FID}/epochs/1/from/x/chunks/1`],
    ['chunk index -1', `${FID}/epochs/1/from/7/chunks/-1`],
    ['file id uppercase', `${FID.toUpperCase()}/epochs/1/from/7/chunks/1`]
  ])('%s -> 400 BAD_REQUEST', async (_n, path) => {
    await expectCode(await putContribution(path, await renewPut(), contribution(1, 1)), 400, 'BAD_REQUEST');
  });

  it('header names another epoch than the URL -> 400 BAD_SHARE_FORMAT, nothing stored', async () => {
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/1`, await renewPut(), contribution(1, 2)), 400, 'BAD_SHARE_FORMAT');
    expect(await store.head(contributionId(FID, 1, 7), 1)).toBeUndefined();
  });

  it('header names another file -> 400 BAD_SHARE_FORMAT', async () => {
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/1`, await renewPut(), contribution(1, 1, {}, OTHER)), 400, 'BAD_SHARE_FORMAT');
  });

  it('oversized: declared over the token max -> 413 before reading; streamed over it -> 413', async () => {
    const token = await renewPut({ max: 50 });
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/1`, token, contribution(1, 1)), 413, 'PAYLOAD_TOO_LARGE');
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(contribution(1, 1));
        c.close();
      }
    });
    const res = await app.request(`/v1/files/${FID}/epochs/1/from/7/chunks/1`, { method: 'PUT', headers: { Authorization: `Bearer ${token}` }, body, duplex: 'half' } as RequestInit);
    await expectCode(res, 413, 'PAYLOAD_TOO_LARGE');
    expect(await store.head(contributionId(FID, 1, 7), 1)).toBeUndefined();
  });

  it('from an unknown party: a token signed by another key (a relay forging the coordinator) -> 401', async () => {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await signer.mint({ fid: FID, op: 'renew_put', ep: 1, dx: 7, chunks: [0, 1], max: 1000 }, { key: privateKey });
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/1`, forged, contribution(1, 1)), 401, 'TOKEN_INVALID');
  });

  it('for another relay (audience) -> 403 TOKEN_WRONG_AUDIENCE', async () => {
    const token = await signer.mint({ fid: FID, op: 'renew_put', ep: 1, dx: 7, chunks: [0, 1], max: 1000 }, { aud: '00000000-0000-4000-8000-0000000000bb' });
    await expectCode(await putContribution(`${FID}/epochs/1/from/7/chunks/1`, token, contribution(1, 1)), 403, 'TOKEN_WRONG_AUDIENCE');
  });
});

describe('POST deal (renew_deal)', () => {
  const receivers = [
    { x: 1, id: RELAY_ID, name: 'a', url: 'http://127.0.0.1:9', token: 'x.y.z' },
    { x: 2, id: RELAY_ID, name: 'b', url: 'http://127.0.0.1:9', token: 'x.y.z' }
  ];
  const dealToken = (over: Record<string, unknown> = {}) => signer.mint({ fid: FID, op: 'renew_deal', ep: 1, rh: receiversHash(receivers), ...over });

  it('receivers other than the token names (redirecting sub-shares to another host) -> 403', async () => {
    const moved = receivers.map((r, i) => (i === 1 ? { ...r, url: 'http://198.51.100.7:80' } : r));
    await expectCode(await post(`${FID}/epochs/1/deal`, await dealToken(), { receivers: moved }), 403, 'TOKEN_OUT_OF_SCOPE');
  });

  it('wrong epoch -> 403; deal token without rh -> 401', async () => {
    await expectCode(await post(`${FID}/epochs/2/deal`, await dealToken(), { receivers }), 403, 'TOKEN_OUT_OF_SCOPE');
    await expectCode(await post(`${FID}/epochs/1/deal`, await dealToken({ rh: undefined }), { receivers }), 401, 'TOKEN_INVALID');
  });

  it.each([
    ['not JSON', 'receivers please'],
    ['no receivers', {}],
    ['one receiver', { receivers: receivers.slice(0, 1) }],
    ['repeated x', { receivers: [receivers[0], receivers[0]] }],
    ['x 0', { receivers: [{ ...receivers[0], x: 0 }, receivers[1]] }],
    ['a URL with a path (not an origin)', { receivers: [{ ...receivers[0], url: 'http://127.0.0.1:9/evil' }, receivers[1]] }],
    ['a non-HTTP URL', { receivers: [{ ...receivers[0], url: 'file:///etc/passwd' }, receivers[1]] }]
  ])('%s -> 400', async (_n, body) => {
    await expectCode(await post(`${FID}/epochs/1/deal`, await dealToken(), body), 400, 'BAD_REQUEST');
  });

  it('oversized body -> 413', async () => {
    await expectCode(await post(`${FID}/epochs/1/deal`, await dealToken(), 'x'.repeat(MAX_DEAL_BODY_BYTES + 1)), 413, 'PAYLOAD_TOO_LARGE');
  });

  it('a file this relay does not hold -> 404', async () => {
    const token = await signer.mint({ fid: OTHER, op: 'renew_deal', ep: 1, rh: receiversHash(receivers) });
    await expectCode(await post(`${OTHER}/epochs/1/deal`, token, { receivers }), 404, 'NOT_FOUND');
  });

  it('receivers unreachable -> 424 RELAYS_OFFLINE naming the receiver, never a 5xx', async () => {
    const res = await post(`${FID}/epochs/1/deal`, await dealToken(), { receivers });
    await expectCode(res, 424, 'RELAYS_OFFLINE');
  });
});

describe('POST prepare (renew_prepare), POST check (renew_check), DELETE epoch (renew_drop)', () => {
  const prep = (over: Record<string, unknown> = {}) => signer.mint({ fid: FID, op: 'renew_prepare', ep: 1, dxs: [7, 9], ...over });

  it('a dealer has not delivered -> 409 RENEWAL_INCOMPLETE, nothing staged', async () => {
    await expectCode(await post(`${FID}/epochs/1/prepare`, await prep(), {}), 409, 'RENEWAL_INCOMPLETE');
    expect(await store.list(epochId(FID, 1))).toEqual([]);
  });

  it('a contribution that does not fit the share (another x) -> 409 RENEWAL_BAD_CONTRIBUTION', async () => {
    const token = await renewPut({ dx: 9 });
    expect((await putContribution(`${FID}/epochs/1/from/9/chunks/0`, token, contribution(0, 1, { x: 2 }))).status).toBe(201);
    await expectCode(await post(`${FID}/epochs/1/prepare`, await prep(), {}), 409, 'RENEWAL_BAD_CONTRIBUTION');
  });

  it('one dealer only -> 400; wrong epoch -> 403; duplicate dealers in the token -> 401', async () => {
    await expectCode(await post(`${FID}/epochs/1/prepare`, await prep({ dxs: [7] }), {}), 400, 'BAD_REQUEST');
    await expectCode(await post(`${FID}/epochs/2/prepare`, await prep(), {}), 403, 'TOKEN_OUT_OF_SCOPE');
    await expectCode(await post(`${FID}/epochs/1/prepare`, await prep({ dxs: [7, 7] }), {}), 401, 'TOKEN_INVALID');
  });

  const checkToken = (over: Record<string, unknown> = {}) => signer.mint({ fid: FID, op: 'renew_check', ep: 1, w: [1], dxs: [7, 9], ...over });
  const KEY = Buffer.alloc(16, 3).toString('base64url');

  it('check before staging -> 409 RENEWAL_INCOMPLETE', async () => {
    await expectCode(await post(`${FID}/epochs/1/check`, await checkToken(), { key: KEY }), 409, 'RENEWAL_INCOMPLETE');
  });

  it.each([
    ['no key', {}],
    ['short key', { key: Buffer.alloc(8).toString('base64url') }],
    ['key not a string', { key: 5 }]
  ])('check with %s -> 400', async (_n, body) => {
    await expectCode(await post(`${FID}/epochs/1/check`, await checkToken(), body), 400, 'BAD_REQUEST');
  });

  it('check without the dealers -> 400; with dealers whose check pads never came -> 409 RENEWAL_INCOMPLETE', async () => {
    await expectCode(await post(`${FID}/epochs/1/check`, await checkToken({ dxs: undefined }), { key: KEY }), 400, 'BAD_REQUEST');
    await expectCode(await post(`${FID}/epochs/1/check`, await checkToken({ dxs: [7, 11] }), { key: KEY }), 409, 'RENEWAL_INCOMPLETE');
  });

  it('check: oversized body -> 413; weights out of range -> 401; without weights -> 401', async () => {
    await expectCode(await post(`${FID}/epochs/1/check`, await checkToken(), { key: KEY, pad: 'x'.repeat(2000) }), 413, 'PAYLOAD_TOO_LARGE');
    await expectCode(await post(`${FID}/epochs/1/check`, await checkToken({ w: [256] }), { key: KEY }), 401, 'TOKEN_INVALID');
    await expectCode(await post(`${FID}/epochs/1/check`, await checkToken({ w: undefined }), { key: KEY }), 401, 'TOKEN_INVALID');
  });

  it('fresh x claims (a relay replaced at a fresh x): malformed fx or wo, or fx on another op -> 401; a fresh prepare where the epoch before is held -> 409; a fresh check with nothing staged -> 409', async () => {
    await expectCode(await post(`${FID}/epochs/1/check`, await checkToken({ fx: 0 }), { key: KEY }), 401, 'TOKEN_INVALID');
    await expectCode(await post(`${FID}/epochs/1/check`, await checkToken({ fx: 256 }), { key: KEY }), 401, 'TOKEN_INVALID');
    await expectCode(await post(`${FID}/epochs/1/check`, await checkToken({ wo: [1, 2] }), { key: KEY }), 401, 'TOKEN_INVALID');
    await expectCode(await post(`${FID}/epochs/1/check`, await checkToken({ wo: [300] }), { key: KEY }), 401, 'TOKEN_INVALID');
    const del = await signer.mint({ fid: FID, op: 'renew_drop', ep: 1, dxs: [7, 9], fx: 5 });
    await expectCode(await app.request(`/v1/files/${FID}/epochs/1`, { method: 'DELETE', headers: { Authorization: `Bearer ${del}` } }), 401, 'TOKEN_INVALID');
    // This relay holds epoch 0 of FID: it never takes a fresh share of it (two points of one polynomial).
    await expectCode(await post(`${FID}/epochs/1/prepare`, await prep({ fx: 200, chunks: [0, 1] }), {}), 409, 'CONFLICT');
    expect(await store.list(epochId(FID, 1))).toEqual([]);
    // A fresh relay's check with nothing dealt or staged -> 409, never a 5xx.
    const fresh = newFileId();
    const tok = await signer.mint({ fid: fresh, op: 'renew_check', ep: 1, w: [1], wo: [0], dxs: [7, 9], fx: 200, chunks: [0, 1] });
    await expectCode(await post(`${fresh}/epochs/1/check`, tok, { key: KEY }), 409, 'RENEWAL_INCOMPLETE');
  });

  it('range drop (a renewal resumed by range): malformed, reversed or oversized ranges -> 400; a range drops only those contributions', async () => {
    const drop = await signer.mint({ fid: FID, op: 'renew_drop', ep: 1, dxs: [13] });
    const del = (query: string) => app.request(`/v1/files/${FID}/epochs/1?${query}`, { method: 'DELETE', headers: { Authorization: `Bearer ${drop}` } });
    for (const q of ['from=1', 'to=1', 'from=-1&to=1', 'from=1&to=0', 'from=a&to=1', 'from=0&to=65536', 'from=01&to=2']) await expectCode(await del(q), 400, 'BAD_REQUEST');
    const put = await renewPut({ dx: 13 });
    for (const i of [0, 1]) expect((await putContribution(`${FID}/epochs/1/from/13/chunks/${i}`, put, contribution(i, 1))).status).toBe(201);
    const res = await del('from=1&to=1');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { deleted: number }).deleted).toBe(1);
    expect((await store.list(contributionId(FID, 1, 13))).map((c) => c.index)).toEqual([0]);
    // Epoch 0 is untouched.
    expect((await store.list(FID)).length).toBe(2);
  });

  it('drop: wrong epoch -> 403; a drop token cannot act on another file -> 403; happy drop removes contributions', async () => {
    const drop = (over: Record<string, unknown> = {}) => signer.mint({ fid: FID, op: 'renew_drop', ep: 1, dxs: [7, 9], ...over });
    const del = async (path: string, token: string) => app.request(`/v1/files/${path}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    await expectCode(await del(`${FID}/epochs/0`, await drop()), 403, 'TOKEN_OUT_OF_SCOPE');
    await expectCode(await del(`${OTHER}/epochs/1`, await drop()), 403, 'TOKEN_OUT_OF_SCOPE');
    const res = await del(`${FID}/epochs/1`, await drop());
    expect(res.status).toBe(200);
    expect(((await res.json()) as { deleted: number }).deleted).toBe(2);
    expect(await store.list(contributionId(FID, 1, 7))).toEqual([]);
    // Epoch 0 is untouched.
    expect((await store.list(FID)).length).toBe(2);
  });

  it('GET with an epoch the relay does not hold -> 404; a get token with a malformed ep -> 401', async () => {
    const get = async (token: string) => app.request(`/v1/files/${FID}/chunks/1`, { headers: { Authorization: `Bearer ${token}` } });
    await expectCode(await get(await signer.mint({ fid: FID, op: 'get', chunks: [0, 1], ep: 5 })), 404, 'NOT_FOUND');
    await expectCode(await get(await signer.mint({ fid: FID, op: 'get', chunks: [0, 1], ep: 1.5 })), 401, 'TOKEN_INVALID');
  });

  it('delete_file with the largest epoch never overflows into a 5xx', async () => {
    const fid = newFileId();
    const res = await app.request(`/v1/files/${fid}`, { method: 'DELETE', headers: { Authorization: `Bearer ${await signer.mint({ fid, op: 'delete_file', ep: MAX_EPOCH })}` } });
    expect(res.status).toBe(200);
  });
});
