import { describe, expect, it } from 'vitest';
import { ShareDecoder, ShareEncoder, shareChunkLength } from './codec.js';
import { randomBytes, seededSource, useRandomSource } from './random.js';
import { FLAG_FINAL, FLAG_METADATA } from './chunk-format.js';
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
    for (const [size, count] of [[0, 0], [10, 1]] as const) {
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
