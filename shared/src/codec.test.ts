import { describe, expect, it } from 'vitest';
import { ShareDecoder, ShareEncoder, shareChunkLength } from './codec.js';
import { randomBytes } from './random.js';
import { seededSource, useRandomSource } from './testing.js';
import { FLAG_FINAL, FLAG_METADATA, HEADER_BYTES } from './chunk-format.js';
import { ShamirEngine } from './shamir.js';
import { encodeMetadata } from './metadata.js';

const opts = { k: 3, xs: [1, 2, 3, 4, 5], fileId: new Uint8Array(16).fill(7), epoch: 0 };
const macKey = new Uint8Array(32).fill(9);

async function encodeWith(seed: number, data: Uint8Array, into?: Array<Uint8Array<ArrayBuffer>>) {
  const restore = useRandomSource(seededSource(seed));
  try {
    const enc = await ShareEncoder.create(opts, macKey);
    return await enc.encodeData(1, true, data, into);
  } finally {
    restore();
  }
}

describe('ShareEncoder.encode into caller buffers', () => {
  it('writes the same share chunks as fresh buffers, into the given ones (views of them)', async () => {
    const data = randomBytes(1000);
    const fresh = await encodeWith(42, data);
    const into = opts.xs.map(() => new Uint8Array(shareChunkLength(1000) + 24));
    const reused = await encodeWith(42, data, into);
    expect(fresh.map((s) => s.length)).toEqual(opts.xs.map(() => shareChunkLength(1000)));
    reused.forEach((s, j) => {
      expect(s.buffer).toBe(into[j]!.buffer);
      expect(Buffer.from(s).equals(Buffer.from(fresh[j]!))).toBe(true);
    });
  });

  it('the shares it writes rebuild the data', async () => {
    const enc = await ShareEncoder.create(opts, macKey);
    const meta = await enc.encodeMetadata({ name: 'a', size: 10, type: '', chunkSize: 16, chunkCount: 1, createdAt: 0, macKey });
    const into = opts.xs.map(() => new Uint8Array(shareChunkLength(10)));
    const data = randomBytes(10);
    const shares = (await enc.encodeData(1, true, data, into)).map((s) => s.slice());
    const dec = new ShareDecoder();
    await dec.decodeMetadata([meta[0]!, meta[2]!, meta[4]!], { fileId: opts.fileId });
    const d = await dec.decodeData([shares[1]!, shares[3]!, shares[4]!], { fileId: opts.fileId, index: 1 });
    expect(Array.from(d.data)).toEqual(Array.from(data));
  });

  it('refuses too few or too small buffers with INVALID_ARGUMENT', async () => {
    const enc = await ShareEncoder.create(opts, macKey);
    const small = opts.xs.map(() => new Uint8Array(shareChunkLength(100) - 1));
    await expect(enc.encodeData(1, true, new Uint8Array(100), small)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const few = [new Uint8Array(shareChunkLength(100))];
    await expect(enc.encodeData(1, true, new Uint8Array(100), few)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('ShareDecoder output', () => {
  it('answers the data as a view that ends before the tag', async () => {
    const enc = await ShareEncoder.create(opts, macKey);
    const meta = await enc.encodeMetadata({ name: 'a', size: 5, type: '', chunkSize: 16, chunkCount: 1, createdAt: 0, macKey });
    const shares = await enc.encodeData(1, true, new Uint8Array([1, 2, 3, 4, 5]));
    const dec = new ShareDecoder();
    await dec.decodeMetadata(meta.slice(0, 3), { fileId: opts.fileId });
    const d = await dec.decodeData(shares.slice(2), { fileId: opts.fileId, index: 1 });
    expect(Array.from(d.data)).toEqual([1, 2, 3, 4, 5]);
    expect(d.data.length).toBe(5);
  });
});

describe('ShareDecoder.decodeData into a caller buffer', () => {
  async function setup(data: Uint8Array) {
    const enc = await ShareEncoder.create(opts, macKey);
    const meta = await enc.encodeMetadata({ name: 'a', size: data.length, type: '', chunkSize: 4096, chunkCount: 1, createdAt: 0, macKey });
    const shares = await enc.encodeData(1, true, data);
    const dec = new ShareDecoder();
    await dec.decodeMetadata(meta.slice(0, 3), { fileId: opts.fileId });
    return { dec, shares };
  }

  it('rebuilds into the given buffer when it fits, overwriting what it held', async () => {
    const data = randomBytes(1000);
    const { dec, shares } = await setup(data);
    const into = new Uint8Array(4096).fill(0xee).buffer;
    const d = await dec.decodeData(shares.slice(1, 4), { fileId: opts.fileId, index: 1 }, into);
    expect(d.data.buffer).toBe(into);
    expect(Buffer.from(d.data).equals(Buffer.from(data))).toBe(true);
    // The same buffer again, for another subset of shares: the same data.
    const again = await dec.decodeData([shares[0]!, shares[2]!, shares[4]!], { fileId: opts.fileId, index: 1 }, d.data.buffer);
    expect(again.data.buffer).toBe(into);
    expect(Buffer.from(again.data).equals(Buffer.from(data))).toBe(true);
  });

  it('allocates its own buffer when the given one is too small', async () => {
    const data = randomBytes(1000);
    const { dec, shares } = await setup(data);
    const small = new ArrayBuffer(100);
    const d = await dec.decodeData(shares.slice(0, 3), { fileId: opts.fileId, index: 1 }, small);
    expect(d.data.buffer).not.toBe(small);
    expect(Buffer.from(d.data).equals(Buffer.from(data))).toBe(true);
  });

  it('a tampered share fails authentication and leaves no plaintext in the given buffer', async () => {
    const data = randomBytes(1000).fill(0x41);
    const { dec, shares } = await setup(data);
    const bad = shares.map((s) => s.slice());
    bad[1]![bad[1]!.length - 5]! ^= 1;
    const into = new ArrayBuffer(4096);
    await expect(dec.decodeData(bad.slice(0, 3), { fileId: opts.fileId, index: 1 }, into)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    expect(new Uint8Array(into).every((b) => b === 0)).toBe(true);
  });
});

/**
 * The metadata record's FINAL flag must say whether the file has data chunks. These records carry a valid
 * tag (real encoder, the record's own key), so only the decoder's check of FINAL against the chunk count
 * catches them (issue #24, survivor 4): an empty file whose record lacks FINAL, a non-empty one claiming it.
 */
describe('ShareDecoder.decodeMetadata and the FINAL flag', () => {
  const record = (size: number, chunkCount: number) => ({ name: 'm', size, type: '', chunkSize: 16, chunkCount, createdAt: 0, macKey });

  it('accepts the flags the encoder sets: FINAL exactly when the file is empty', async () => {
    const enc = await ShareEncoder.create(opts, macKey);
    for (const [size, count] of [
      [0, 0],
      [10, 1]
    ] as const) {
      const shares = await enc.encodeMetadata(record(size, count));
      const d = await new ShareDecoder().decodeMetadata(shares.slice(0, 3), { fileId: opts.fileId });
      expect(d.meta).toMatchObject({ size, chunkCount: count });
      expect(d.flags).toBe(FLAG_METADATA | (count === 0 ? FLAG_FINAL : 0));
    }
  });

  it('refuses a validly tagged record for an empty file without FINAL', async () => {
    const enc = await ShareEncoder.create(opts, macKey);
    const shares = await enc.encode(0, FLAG_METADATA, encodeMetadata(record(0, 0)));
    await expect(new ShareDecoder().decodeMetadata(shares.slice(0, 3), { fileId: opts.fileId })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('refuses a validly tagged record for a non-empty file marked FINAL', async () => {
    const enc = await ShareEncoder.create(opts, macKey);
    const shares = await enc.encode(0, FLAG_METADATA | FLAG_FINAL, encodeMetadata(record(10, 1)));
    await expect(new ShareDecoder().decodeMetadata(shares.slice(0, 3), { fileId: opts.fileId })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });
});

/** Parameter checks at the encoder's and decoder's public edge (survivors of the first Stryker run). */
describe('ShareEncoder.create and ShareDecoder refuse bad parameters with INVALID_ARGUMENT', () => {
  const failure = async (p: Promise<unknown>): Promise<{ code?: string; message?: string }> =>
    p.then(
      () => ({}),
      (err: unknown) => ({ code: (err as { code?: string }).code, message: (err as { message?: string }).message })
    );
  const key = () => new Uint8Array(32).fill(9);

  it.each([
    ['a 15-byte file id', { fileId: new Uint8Array(15) }, '"fileId" expected 16 bytes'],
    ['a file id that is not bytes', { fileId: Array.from({ length: 16 }, () => 1) as unknown as Uint8Array }, '"fileId" expected 16 bytes'],
    ['a negative epoch', { epoch: -1 }, '"epoch" expected integer 0..2^32-1'],
    ['a fractional epoch', { epoch: 1.5 }, '"epoch" expected integer 0..2^32-1'],
    ['an epoch of 2^32', { epoch: 2 ** 32 }, '"epoch" expected integer 0..2^32-1'],
    ['an epoch that is a string', { epoch: '1' as unknown as number }, '"epoch" expected integer 0..2^32-1']
  ])('%s', async (_name, over, message) => {
    expect(await failure(ShareEncoder.create({ ...opts, ...over }, key()))).toEqual({ code: 'INVALID_ARGUMENT', message });
  });

  it('accepts the largest epoch, 2^32-1', async () => {
    expect((await ShareEncoder.create({ ...opts, epoch: 2 ** 32 - 1 }, key())).epoch).toBe(2 ** 32 - 1);
  });

  it('refuses k above the number of shares, and a MAC key that is not 32 bytes', async () => {
    expect(await failure(ShareEncoder.create({ ...opts, k: 6 }, key()))).toEqual({ code: 'INVALID_THRESHOLD', message: 'The threshold is greater than the number of servers.' });
    expect((await failure(ShareEncoder.create(opts, new Uint8Array(31)))).code).toBe('INVALID_ARGUMENT');
    expect((await failure(ShareEncoder.create(opts, Array.from({ length: 32 }, () => 0) as unknown as Uint8Array<ArrayBuffer>))).code).toBe('INVALID_ARGUMENT');
  });

  it('keeps its own copy of the file id', async () => {
    const fileId = new Uint8Array(16).fill(3);
    const enc = await ShareEncoder.create({ ...opts, fileId }, key());
    fileId.fill(4);
    expect(Array.from(enc.fileId)).toEqual(Array.from(new Uint8Array(16).fill(3)));
  });

  it('refuses a second encode while one runs (the scratch buffer is shared)', async () => {
    const enc = await ShareEncoder.create(opts, key());
    const first = enc.encodeData(1, true, new Uint8Array(10));
    await expect(enc.encodeData(2, true, new Uint8Array(10))).rejects.toThrow('ShareEncoder.encode called concurrently');
    await first;
    expect(await enc.encodeData(2, true, new Uint8Array(10))).toHaveLength(5);
  });

  it('decodeData refuses index 0 (the metadata record has its own decoder)', async () => {
    const enc = await ShareEncoder.create(opts, macKey);
    const meta = await enc.encodeMetadata({ name: 'a', size: 1, type: '', chunkSize: 16, chunkCount: 1, createdAt: 0, macKey });
    const dec = new ShareDecoder();
    await dec.decodeMetadata(meta.slice(0, 3), { fileId: opts.fileId });
    expect(await failure(dec.decodeData(meta.slice(0, 3), { fileId: opts.fileId, index: 0 }))).toEqual({ code: 'INVALID_ARGUMENT', message: 'Data chunks start at index 1.' });
  });
});

// Second Stryker run on codec.ts (issue #24): each fault of a set of shares in its own words, the subsets
// tried when shares are bad, the bad shares named in order, and one decoder holding several files' keys.
describe('ShareDecoder names what is wrong with a set of shares', () => {
  const data = new Uint8Array(10).fill(5);
  const other = new Uint8Array(16).fill(8);
  const meta = (size: number) => ({ name: 'a', size, type: '', chunkSize: 16, chunkCount: size === 0 ? 0 : 1, createdAt: 0, macKey });
  /** A decoder that knows the test file's key (and file `other`'s, with the same key). */
  async function decoder() {
    const dec = new ShareDecoder();
    await dec.decodeMetadata((await (await ShareEncoder.create(opts, macKey)).encodeMetadata(meta(10))).slice(0, 3), { fileId: opts.fileId });
    return dec;
  }
  const shares = async (over: Partial<typeof opts> = {}, index = 1, bytes = data) => (await ShareEncoder.create({ ...opts, ...over }, macKey)).encodeData(index, true, bytes);
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => 'ok',
      (err: unknown) => `${(err as { code?: string }).code}: ${(err as Error).message}`
    );
  // Each altered share is altered at its own byte: equal changes at one byte can cancel in the sum.
  const flip = (chunk: Uint8Array, at = 0): Uint8Array => {
    const c = chunk.slice();
    c[HEADER_BYTES + at]! ^= 1;
    return c;
  };

  it('words each refusal, naming chunk, epoch and counts', async () => {
    const dec = await decoder();
    const s = await shares();
    const at = { fileId: opts.fileId, index: 1 };
    expect(await refusal(dec.decodeData([s[0]!, s[1]!, (await shares({ fileId: other }))[2]!], at))).toBe('MIXED_FILE: A share belongs to another file.');
    expect(await refusal(dec.decodeData(s.slice(0, 3), { ...at, index: 2 }))).toBe('STREAM_OUT_OF_ORDER: Expected chunk 2, got chunk 1.');
    expect(await refusal(dec.decodeData(await shares({ epoch: 1 }), { ...at, epoch: 0 }))).toBe('MIXED_EPOCH: Share is from epoch 1, expected 0.');
    expect(await refusal(dec.decodeData(s, { ...at, k: 2 }))).toBe('BAD_SHARE_FORMAT: Share threshold differs.');
    const longer = await shares({}, 1, new Uint8Array(11));
    expect(await refusal(dec.decodeData([s[0]!, s[1]!, longer[2]!], at))).toBe('BAD_SHARE_FORMAT: Shares disagree.');
    const later = await shares({ epoch: 1 });
    expect(await refusal(dec.decodeData([s[0]!, s[1]!, later[2]!], at))).toBe('MIXED_EPOCH: Shares come from different epochs.');
    expect(await refusal(dec.decodeData([s[0]!, s[1]!, s[1]!.slice()], at))).toBe('DUPLICATE_X: Two shares claim the same x.');
    expect(await refusal(dec.decodeData(s.slice(0, 2), at))).toBe('NOT_ENOUGH_SHARES: Need 3 shares, have 2.');
    expect(await refusal(dec.decodeData([flip(s[0]!), s[1]!, s[2]!], at))).toBe('AUTH_FAILED: Chunk 1 failed authentication: a storage server returned altered data.');
    expect(await refusal(dec.decodeData([new Uint8Array(3), s[1]!], at))).toBe('BAD_SHARE_FORMAT: Share chunk shorter than its header.');
    expect(await refusal(new ShareDecoder().decodeData(s, at))).toBe('INVALID_ARGUMENT: Metadata of this file must be decoded before its data.');
  });

  it('finds the only good subset of k shares, whichever shares are bad, and names the bad ones in order', async () => {
    const dec = await decoder();
    const s = await shares();
    // Bad first and last: the good subset {1, 2, 3} comes after subsets that move the middle index back.
    const out = await dec.decodeData([flip(s[0]!), s[1]!, s[2]!, s[3]!, flip(s[4]!, 1)], { fileId: opts.fileId, index: 1 });
    expect(Array.from(out.data)).toEqual(Array.from(data));
    expect(out.used).toEqual([1, 2, 3]);
    expect(out.bad).toEqual([0, 4]);
    // A share of another file at position 4 (refused at once) and an altered one at 1 (found after): sorted.
    const mixed = [s[0]!, flip(s[1]!), s[2]!, s[3]!, (await shares({ fileId: other }))[4]!];
    expect((await dec.decodeData(mixed, { fileId: opts.fileId, index: 1 })).bad).toEqual([1, 4]);
  });

  it('keeps each file\u2019s key apart in one decoder', async () => {
    const keyB = new Uint8Array(32).fill(1);
    const dec = await decoder();
    const encB = await ShareEncoder.create({ ...opts, fileId: other }, keyB);
    await dec.decodeMetadata((await encB.encodeMetadata({ ...meta(10), macKey: keyB })).slice(0, 3), { fileId: other });
    const a = await dec.decodeData((await shares()).slice(0, 3), { fileId: opts.fileId, index: 1 });
    const b = await dec.decodeData((await encB.encodeData(1, true, new Uint8Array(10).fill(6))).slice(0, 3), { fileId: other, index: 1 });
    expect([a.data[0], b.data[0]]).toEqual([5, 6]);
  });

  it('wipe zeroes the plaintext the encoder held', async () => {
    const engine = new ShamirEngine('js');
    const enc = await ShareEncoder.create({ ...opts, engine }, macKey);
    await enc.encodeData(1, true, new Uint8Array(1000).fill(0xa5));
    expect(engine.kernel.bytes().some((b) => b !== 0)).toBe(true);
    enc.wipe();
    expect(engine.kernel.bytes().every((b) => b === 0)).toBe(true);
  });
});
