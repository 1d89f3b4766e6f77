/**
 * Remembered token verifications (capability.ts, issue #14): a token verified once is not verified again
 * for each chunk, yet every answer stays what a fresh verification would give: expiry at `exp` plus the
 * clock tolerance, the audience and the key still bind, failures are never remembered, and the cache is
 * bounded.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SignJWT } from 'jose';
import { MAX_TOKEN_BYTES, TOKEN_ISSUER, hasErrorCode, randomUuid } from '@kofn/shared';
import { MAX_CACHED_TOKENS, cachedCapability, cachedTokens, verifyCapability } from './capability.js';
import { makeSigner } from './testing/tokens.js';
import { newFileId } from './testing/chunks.js';

const RELAY = '00000000-0000-4000-8000-0000000000c1';
const OTHER_RELAY = '00000000-0000-4000-8000-0000000000c2';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (hasErrorCode(err)) return err.code;
    throw err;
  }
  return 'OK';
}

afterEach(() => {
  vi.useRealTimers();
});

describe('verified-token cache', () => {
  it('answers a repeated token from the cache with the same claims', async () => {
    const signer = await makeSigner(RELAY);
    const fid = newFileId();
    const token = `Bearer ${await signer.mint({ fid, op: 'put', chunks: [0, 9] })}`;
    const first = await verifyCapability(token, signer.publicKey, RELAY);
    expect(cachedTokens(signer.publicKey)).toBe(1);
    const second = await verifyCapability(token, signer.publicKey, RELAY);
    expect(second).toBe(first);
    expect(second).toMatchObject({ fid, op: 'put', chunks: [0, 9] });
    expect(Object.isFrozen(second)).toBe(true);
  });

  it('refuses a cached token once it has expired, exactly as jose would (exp + 5 s tolerance)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const signer = await makeSigner(RELAY);
    const token = `Bearer ${await signer.mint({ fid: newFileId() }, { exp: 30 })}`;
    expect(await codeOf(verifyCapability(token, signer.publicKey, RELAY))).toBe('OK');
    vi.setSystemTime(Date.now() + 34_000);
    expect(await codeOf(verifyCapability(token, signer.publicKey, RELAY))).toBe('OK');
    vi.setSystemTime(Date.now() + 2_000);
    expect(await codeOf(verifyCapability(token, signer.publicKey, RELAY))).toBe('TOKEN_EXPIRED');
  });

  it('verifies again after a minute even when the token lives longer (a withdrawn key stops working)', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const signer = await makeSigner(RELAY);
    const token = `Bearer ${await signer.mint({ fid: newFileId() }, { exp: 600 })}`;
    const first = await verifyCapability(token, signer.publicKey, RELAY);
    vi.setSystemTime(Date.now() + 61_000);
    const again = await verifyCapability(token, signer.publicKey, RELAY);
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });

  it('keeps the audience and the key binding: a token cached for one relay is refused by another', async () => {
    const signer = await makeSigner(RELAY);
    const stranger = await makeSigner(RELAY);
    const token = `Bearer ${await signer.mint({ fid: newFileId() })}`;
    expect(await codeOf(verifyCapability(token, signer.publicKey, RELAY))).toBe('OK');
    expect(await codeOf(verifyCapability(token, signer.publicKey, OTHER_RELAY))).toBe('TOKEN_WRONG_AUDIENCE');
    expect(await codeOf(verifyCapability(token, stranger.publicKey, RELAY))).toBe('TOKEN_INVALID');
  });

  it('never remembers a failure: a token not yet valid is accepted once its time comes', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const signer = await makeSigner(RELAY);
    const token = `Bearer ${await signer.mint({ fid: newFileId() }, { nbf: 20 })}`;
    expect(await codeOf(verifyCapability(token, signer.publicKey, RELAY))).toBe('TOKEN_NOT_YET_VALID');
    expect(cachedTokens(signer.publicKey)).toBe(0);
    vi.setSystemTime(Date.now() + 20_000);
    expect(await codeOf(verifyCapability(token, signer.publicKey, RELAY))).toBe('OK');
  });

  it(`holds at most ${MAX_CACHED_TOKENS} tokens per key, dropping the oldest`, async () => {
    const signer = await makeSigner(RELAY);
    const tokens = await Promise.all(Array.from({ length: MAX_CACHED_TOKENS + 1 }, () => signer.mint({ fid: newFileId() })));
    const caps = [];
    for (const t of tokens) caps.push(await verifyCapability(`Bearer ${t}`, signer.publicKey, RELAY));
    expect(cachedTokens(signer.publicKey)).toBe(MAX_CACHED_TOKENS);
    // The newest is still remembered (same object); the oldest was dropped and is verified afresh.
    expect(await verifyCapability(`Bearer ${tokens.at(-1)!}`, signer.publicKey, RELAY)).toBe(caps.at(-1));
    const oldest = await verifyCapability(`Bearer ${tokens[0]!}`, signer.publicKey, RELAY);
    expect(oldest).not.toBe(caps[0]);
    expect(oldest).toEqual(caps[0]);
    expect(cachedTokens(signer.publicKey)).toBe(MAX_CACHED_TOKENS);
  });

  it('the fast path finds a verified header of exactly the largest size, and never an empty or missing one', async () => {
    const signer = await makeSigner(RELAY);
    const fid = newFileId();
    const now = Math.floor(Date.now() / 1000);
    // Padding in the protected header and in the claims (both ignored by the relay): base64url skips one
    // length in four per segment, two segments reach every length.
    const header = (headerPad: number, claimPad: number) =>
      new SignJWT({ op: 'get', chunks: [0, 9], fid, pad: 'p'.repeat(claimPad) })
        .setProtectedHeader({ alg: 'EdDSA', pad: 'h'.repeat(headerPad) })
        .setIssuer(TOKEN_ISSUER)
        .setAudience(RELAY)
        .setJti(randomUuid())
        .setIssuedAt(now)
        .setExpirationTime(now + 300)
        .sign(signer.privateKey)
        .then((t) => `Bearer ${t}`);
    let exact = '';
    for (let headerPad = 0; headerPad < 4 && !exact; headerPad++) {
      const base = (await header(headerPad, 0)).length;
      for (let claimPad = Math.max(0, Math.floor(((MAX_TOKEN_BYTES - base) * 3) / 4) - 3); claimPad < 4000; claimPad++) {
        const h = await header(headerPad, claimPad);
        if (h.length === MAX_TOKEN_BYTES) exact = h;
        if (h.length >= MAX_TOKEN_BYTES) break;
      }
    }
    expect(exact.length).toBe(MAX_TOKEN_BYTES);
    expect(cachedCapability(exact, signer.publicKey, RELAY)).toBeUndefined();
    const cap = await verifyCapability(exact, signer.publicKey, RELAY);
    expect(cap).toMatchObject({ fid, op: 'get', chunks: [0, 9] });
    expect(cachedCapability(exact, signer.publicKey, RELAY)).toBe(cap);
    expect(cachedCapability(exact, signer.publicKey, OTHER_RELAY)).toBeUndefined();
    expect(cachedCapability(undefined, signer.publicKey, RELAY)).toBeUndefined();
    expect(cachedCapability('', signer.publicKey, RELAY)).toBeUndefined();
  });
});
