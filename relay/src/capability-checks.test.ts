/**
 * Capability checks at their edges (issue #24: survivors of Stryker on the relay's token verification and
 * scope check, relay/src/capability.ts). Through the real routes with real EdDSA tokens, as bad-input.test.ts
 * does, so the tests hold whatever the module is called:
 * - each claim limit exactly at and one past its edge (lifetime, token size, chunk range);
 * - the claims a token must carry (exp, iat, jti as a string);
 * - each refusal's code and words: every signature or format failure is one TOKEN_INVALID with one message
 *   (no oracle for forgers), while expiry, not-yet-valid and audience have their own, because clients act
 *   on them;
 * - a coordinator key set that does not answer in time is an outage (503 UNAVAILABLE), not a bad token.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, createRemoteJWKSet } from 'jose';
import { MAX_TOKEN_BYTES, MAX_TOKEN_LIFETIME_S, TOKEN_ISSUER } from '@kofn/shared';
import { createApp } from './app.js';
import { loadConfig } from './config.js';
import { RELAY_ID, testRelay } from './testing/app.js';
import { newFileId, shareChunk } from './testing/chunks.js';

type T = Awaited<ReturnType<typeof testRelay>>;
let t: T;
const FID = newFileId();
const INVALID = { code: 'TOKEN_INVALID', message: 'Invalid capability token.' };

beforeAll(async () => {
  t = await testRelay();
  // Chunks 2..6 stored, so a GET that passes the checks answers 200 and one refused answers 401/403.
  for (const i of [2, 3, 4, 5, 6]) {
    const res = await t.app.request(`/v1/files/${FID}/chunks/${i}`, {
      method: 'PUT',
      body: shareChunk(FID, i, 40),
      headers: { Authorization: `Bearer ${await t.signer.mint({ fid: FID, op: 'put', chunks: [i, i] })}` }
    });
    expect(res.status).toBe(201);
  }
});

const now = (): number => Math.floor(Date.now() / 1000);

/** A token signed by the test coordinator key with exactly these claims (nothing added). */
function sign(payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', ...header }).sign(t.signer.privateKey);
}

/** Claims of a valid GET token for chunks 3..5 of FID, to change one at a time. */
const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: TOKEN_ISSUER,
  aud: RELAY_ID,
  sub: 'user-1',
  jti: randomUUID(),
  iat: now(),
  nbf: now(),
  exp: now() + 300,
  fid: FID,
  op: 'get',
  chunks: [3, 5],
  ...over
});

const getWith = (authorization: string, index = 4) => t.app.request(`/v1/files/${FID}/chunks/${index}`, { headers: { Authorization: authorization } });

async function refusal(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, code: body.error.code, message: body.error.message };
}

describe('token lifetime and age', () => {
  it('takes a token living exactly the longest lifetime and refuses one a second longer, as invalid', async () => {
    const iat = now();
    const ok = await getWith(`Bearer ${await sign(claims({ iat, exp: iat + MAX_TOKEN_LIFETIME_S }))}`);
    expect(ok.status).toBe(200);
    const tooLong = await getWith(`Bearer ${await sign(claims({ iat, exp: iat + MAX_TOKEN_LIFETIME_S + 1 }))}`);
    expect(await refusal(tooLong)).toEqual({ status: 401, ...INVALID });
  });

  it('refuses a token issued too long ago, even if it has not expired, as expired (a fresh one will do)', async () => {
    const iat = now() - MAX_TOKEN_LIFETIME_S - 120;
    const res = await getWith(`Bearer ${await sign(claims({ iat, nbf: iat, exp: now() + 60 }))}`);
    expect(await refusal(res)).toEqual({ status: 401, code: 'TOKEN_EXPIRED', message: 'The capability token has expired.' });
  });

  it('refuses a token issued in the future (the coordinator\u2019s clock ahead) as not valid yet', async () => {
    const res = await getWith(`Bearer ${await sign(claims({ iat: now() + 120, nbf: now(), exp: now() + 300 }))}`);
    expect(await refusal(res)).toEqual({ status: 401, code: 'TOKEN_NOT_YET_VALID', message: 'The capability token is not valid yet.' });
  });

  it('names an expired token, a token not valid yet and a token for another relay in words of their own', async () => {
    const expired = await getWith(`Bearer ${await sign(claims({ iat: now() - 600, nbf: now() - 600, exp: now() - 60 }))}`);
    expect(await refusal(expired)).toEqual({ status: 401, code: 'TOKEN_EXPIRED', message: 'The capability token has expired.' });
    const early = await getWith(`Bearer ${await sign(claims({ nbf: now() + 120, exp: now() + 300 }))}`);
    expect(await refusal(early)).toEqual({ status: 401, code: 'TOKEN_NOT_YET_VALID', message: 'The capability token is not valid yet.' });
    const elsewhere = await getWith(`Bearer ${await sign(claims({ aud: '00000000-0000-4000-8000-0000000000bb' }))}`);
    expect(await refusal(elsewhere)).toEqual({
      status: 403,
      code: 'TOKEN_WRONG_AUDIENCE',
      message: 'The capability token is for another storage server.'
    });
  });
});

describe('claims a token must carry', () => {
  for (const claim of ['exp', 'iat', 'jti', 'iss', 'aud'] as const) {
    it(`refuses a token without "${claim}" as invalid`, async () => {
      const { [claim]: _dropped, ...c } = claims();
      expect(await refusal(await getWith(`Bearer ${await sign(c)}`))).toEqual({ status: 401, ...INVALID });
    });
  }

  it('refuses a token whose "jti" is not a string as invalid', async () => {
    expect(await refusal(await getWith(`Bearer ${await sign(claims({ jti: 12345 }))}`))).toEqual({ status: 401, ...INVALID });
  });

  it('refuses a token whose "iss" is not the coordinator as invalid', async () => {
    expect(await refusal(await getWith(`Bearer ${await sign(claims({ iss: 'kofn-coordinator2' }))}`))).toEqual({ status: 401, ...INVALID });
  });
});

describe('one refusal for every malformed or forged token', () => {
  it('answers every signature and format failure with the same code and message', async () => {
    const good = await sign(claims());
    const [h, p, s] = good.split('.') as [string, string, string];
    const cases = [
      'Basic dXNlcjpwYXNz',
      `Bearer ${h}.${p}`,
      `Bearer ${h}.${p}.${s}.x`,
      `bearer ${good}`,
      `Bearer  ${good}`,
      `Bearer ${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BA' : 'AA'}`,
      `Bearer ${h}.${Buffer.from('[1,2]').toString('base64url')}.${s}`
    ];
    for (const authorization of cases) expect(await refusal(await getWith(authorization))).toEqual({ status: 401, ...INVALID });
  });

  it('a malformed kofn claim keeps the claim check\u2019s own words (which claim), with TOKEN_INVALID', async () => {
    const res = await getWith(`Bearer ${await sign(claims({ chunks: [5, 3] }))}`);
    expect(await refusal(res)).toEqual({ status: 401, code: 'TOKEN_INVALID', message: 'Token claim "chunks" is missing or malformed.' });
  });

  it('reads an Authorization header of exactly the largest size, and refuses one byte more unread', async () => {
    // The header's length is tuned with a padding claim (relays ignore claims they do not know).
    const sized = async (length: number): Promise<string> => {
      // base64url: 4 characters per 3 bytes, so start a few bytes short of the estimate and step up.
      const base = `Bearer ${await sign(claims({ pad: '' }))}`.length;
      for (let pad = Math.max(0, Math.floor(((length - base) * 3) / 4) - 4); pad < 4000; pad++) {
        const header = `Bearer ${await sign(claims({ pad: 'p'.repeat(pad) }))}`;
        if (header.length === length) return header;
        if (header.length > length) break;
      }
      throw new Error(`no padding gives a header of ${length} characters`);
    };
    // base64url grows by 4 characters per 3 bytes, so not every length is reachable: take the largest
    // reachable one at or under the limit, then check the limit itself with one extra character.
    let header = '';
    for (let length = MAX_TOKEN_BYTES; !header; length--) header = await sized(length).catch(() => '');
    expect(header.length).toBeGreaterThan(MAX_TOKEN_BYTES - 4);
    expect((await getWith(header)).status).toBe(200);
    // Exactly at the limit: the same token with extra characters would fail its signature check anyway,
    // so at the limit it is TOKEN_INVALID either way; one past the limit it is refused before parsing.
    const exact = header + 'A'.repeat(MAX_TOKEN_BYTES - header.length);
    expect(exact.length).toBe(MAX_TOKEN_BYTES);
    expect(await refusal(await getWith(exact))).toEqual({ status: 401, ...INVALID });
    expect(await refusal(await getWith(`${exact}A`))).toEqual({ status: 401, ...INVALID });
  });
});

describe('scope: operation, file and chunk range', () => {
  const get = (index: number) => t.signer.mint({ fid: FID, op: 'get', chunks: [3, 5] }).then((tok) => getWith(`Bearer ${tok}`, index));

  it('allows both ends of the chunk range and refuses the chunk just outside each end (403 TOKEN_OUT_OF_SCOPE)', async () => {
    expect((await get(3)).status).toBe(200);
    expect((await get(5)).status).toBe(200);
    const outOfScope = { status: 403, code: 'TOKEN_OUT_OF_SCOPE', message: 'The capability token does not allow this operation.' };
    expect(await refusal(await get(2))).toEqual(outOfScope);
    expect(await refusal(await get(6))).toEqual(outOfScope);
  });

  it('a whole-file token (list) works only on its whole-file route, never on a chunk', async () => {
    const list = await t.signer.mint({ fid: FID, op: 'list', chunks: [0, 10] });
    const listed = await t.app.request(`/v1/files/${FID}/chunks`, { headers: { Authorization: `Bearer ${list}` } });
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { chunks: unknown[] }).chunks).toHaveLength(5);
    expect((await refusal(await getWith(`Bearer ${list}`, 4))).code).toBe('TOKEN_OUT_OF_SCOPE');
  });

  it('a missing token is TOKEN_MISSING, in its own words', async () => {
    const res = await t.app.request(`/v1/files/${FID}/chunks/4`);
    expect(await refusal(res)).toEqual({ status: 401, code: 'TOKEN_MISSING', message: 'A capability token is required.' });
  });
});

describe('the coordinator\u2019s key set does not answer', () => {
  let stalled: Server;
  const sockets = new Set<Socket>();
  beforeAll(async () => {
    // Accepts connections and never answers: the relay's key fetch must give up, bounded.
    stalled = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((res) => stalled.listen(0, '127.0.0.1', res));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((res) => stalled.close(() => res()));
  });

  it('answers 503 UNAVAILABLE (an outage to route around), not a token error', async () => {
    const { port } = stalled.address() as { port: number };
    const keys = createRemoteJWKSet(new URL(`http://127.0.0.1:${port}/jwks.json`), { timeoutDuration: 300 });
    const config = loadConfig(undefined, { KOFN_RELAY_NAME: 'relay-t', KOFN_RELAY_DATA: t.root });
    const app = createApp({ config, relayId: RELAY_ID, store: t.store, keys });
    const res = await app.request(`/v1/files/${FID}/chunks/4`, { headers: { Authorization: `Bearer ${await sign(claims(), { kid: 'k1' })}` } });
    expect(await refusal(res)).toEqual({ status: 503, code: 'UNAVAILABLE', message: 'The coordinator\u2019s signing keys are unreachable.' });
  });
});
