/**
 * Token spelling (issue #13 item 12): a JWS segment has exactly one base64url spelling. A real token
 * whose signature's last character is swapped for one that decodes to the same bytes (non-zero unused
 * bits) is refused with the same TOKEN_INVALID as any other malformed token.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { testRelay } from './testing/app.js';
import { newFileId, shareChunk } from './testing/chunks.js';

type T = Awaited<ReturnType<typeof testRelay>>;
let t: T;
const FID = newFileId();
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

beforeAll(async () => {
  t = await testRelay();
  const body = shareChunk(FID, 0, 40);
  const put = await t.app.request(`/v1/files/${FID}/chunks/0`, {
    method: 'PUT',
    body,
    headers: { Authorization: `Bearer ${await t.signer.mint({ fid: FID, op: 'put', chunks: [0, 0] })}` }
  });
  expect(put.status).toBe(201);
});

/** The same bytes spelled differently: the last character with its unused low bits set. */
function nonCanonicalTail(token: string): string {
  const sig = token.slice(token.lastIndexOf('.') + 1);
  // 64-byte Ed25519 signature = 86 characters; the last one carries 2 data bits and 4 unused bits.
  expect(sig.length % 4).toBe(2);
  const last = ALPHABET.indexOf(sig.at(-1)!);
  expect(last & 0x0f).toBe(0);
  const twin = `${token.slice(0, -1)}${ALPHABET[last | 0x0f]}`;
  // Proof that this is the attack and not a corrupted signature: both spellings decode to one signature.
  expect(Buffer.from(twin.slice(twin.lastIndexOf('.') + 1), 'base64url').equals(Buffer.from(sig, 'base64url'))).toBe(true);
  return twin;
}

const get = (token: string) => t.app.request(`/v1/files/${FID}/chunks/0`, { headers: { Authorization: `Bearer ${token}` } });
const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe('canonical base64url in capability tokens', () => {
  it('accepts the token as the coordinator spelled it', async () => {
    const res = await get(await t.signer.mint({ fid: FID, op: 'get', chunks: [0, 0] }));
    expect(res.status).toBe(200);
  });

  it('refuses the same signature with non-zero unused bits in its last character (401 TOKEN_INVALID)', async () => {
    const res = await get(nonCanonicalTail(await t.signer.mint({ fid: FID, op: 'get', chunks: [0, 0] })));
    expect(res.status).toBe(401);
    expect(await errorCode(res)).toBe('TOKEN_INVALID');
  });

  it('refuses a segment with a dangling character (length 1 mod 4) the same way', async () => {
    const res = await get(`${await t.signer.mint({ fid: FID, op: 'get', chunks: [0, 0] })}A`);
    expect(res.status).toBe(401);
    expect(await errorCode(res)).toBe('TOKEN_INVALID');
  });

  it('refuses a non-canonical payload segment the same way (the signature covers its text, so this is a guard)', async () => {
    // A payload whose encoded length is not a multiple of 4 has unused bits; pick `max` to get one.
    let token = '';
    for (const max of [1, 10, 100]) {
      token = await t.signer.mint({ fid: FID, op: 'get', chunks: [0, 0], max });
      if (token.split('.')[1]!.length % 4 !== 0) break;
    }
    const [h, p, s] = token.split('.') as [string, string, string];
    expect(p.length % 4).not.toBe(0);
    const last = ALPHABET.indexOf(p.at(-1)!);
    const twin = `${p.slice(0, -1)}${ALPHABET[last | (p.length % 4 === 2 ? 0x0f : 0x03)]}`;
    expect(Buffer.from(twin, 'base64url').equals(Buffer.from(p, 'base64url'))).toBe(true);
    const res = await get(`${h}.${twin}.${s}`);
    expect(res.status).toBe(401);
    expect(await errorCode(res)).toBe('TOKEN_INVALID');
  });
});
