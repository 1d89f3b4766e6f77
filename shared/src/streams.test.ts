import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createProtectStream, type ShareSet } from './streams.js';
import { ShareEncoder } from './codec.js';
import { HEADER_BYTES } from './chunk-format.js';
import { randomBytes } from './random.js';
import { pickSets, protectInPieces, retrieveSets as retrieve, sameBytes as eq, singleByteChanges } from '../test/stream-harness.js';

const XS = [1, 2, 3, 4, 5];

function protect(data: Uint8Array, opts: { k?: number; xs?: number[]; chunkSize?: number; fileId?: Uint8Array; name?: string } = {}) {
  const file = { name: opts.name ?? 'f.bin', size: data.length, type: 'application/octet-stream', chunkSize: opts.chunkSize ?? 48 };
  return protectInPieces(data, { k: opts.k ?? 3, xs: opts.xs ?? XS, fileId: opts.fileId ?? randomBytes(16), file }, 37);
}

describe('protect -> retrieve round trips', () => {
  it.each([0, 1, 47, 48, 49, 48 * 3 + 7])('%i bytes with chunk size 48', async (size) => {
    const data = randomBytes(size);
    const { fileId, chunks } = await protect(data);
    expect(chunks).toHaveLength(1 + Math.ceil(size / 48));
    expect(chunks.at(-1)!.final).toBe(true);
    const out = await retrieve(pickSets(chunks, [4, 0, 2]), fileId);
    expect(out.error).toBeUndefined();
    expect(eq(out.data, data)).toBe(true);
  });

  it('any k-subset of any (k, n) rebuilds any file', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 2, max: 8 }).chain((n) => fc.tuple(fc.integer({ min: 2, max: n }), fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }))),
        fc.integer({ min: 0, max: 500 }),
        fc.integer({ min: 1, max: 200 }),
        async ([k, order], size, chunkSize) => {
          const n = order.length;
          const data = randomBytes(size);
          const xs = Array.from({ length: n }, (_, i) => 255 - i * 3);
          const { fileId, chunks } = await protect(data, { k, xs, chunkSize });
          const out = await retrieve(pickSets(chunks, order.slice(0, k)), fileId);
          expect(out.error).toBeUndefined();
          expect(eq(out.data, data)).toBe(true);
        }
      ),
      { numRuns: 60 }
    );
  });

  it('refuses input longer or shorter than the declared size', async () => {
    for (const actual of [99, 101]) {
      const p = await createProtectStream({ k: 2, xs: [1, 2], fileId: randomBytes(16), file: { name: 'x', size: 100, type: '', chunkSize: 48 } });
      const w = p.writable.getWriter();
      const writing = w
        .write(new Uint8Array(actual))
        .then(() => w.close())
        .catch(() => undefined);
      let code: string | undefined;
      try {
        for await (const _ of p.readable) {
          // drained for its error only
        }
      } catch (err) {
        code = (err as { code?: string }).code;
      }
      await writing;
      expect(code).toBe(actual > 100 ? 'INVALID_ARGUMENT' : 'STREAM_TRUNCATED');
    }
  });
});

/**
 * The one error a reader must get for a share chunk of chunk `c` whose byte `b` was changed (header layout
 * in chunk-format.ts): each header field fails with its own code, any body or tag byte with AUTH_FAILED.
 */
function expectedCode(c: number, b: number, tampered: Uint8Array, xs: number[]): string {
  if (b >= HEADER_BYTES) return 'AUTH_FAILED';
  if (b === 6) {
    // x: 0 is malformed, another share's x is a duplicate, any other x fails the tag after combining.
    if (tampered[6] === 0) return 'BAD_SHARE_FORMAT';
    return xs.includes(tampered[6]!) ? 'DUPLICATE_X' : 'AUTH_FAILED';
  }
  if (b >= 8 && b < 24) return 'MIXED_FILE';
  if (b >= 24 && b < 28) {
    // Index 0 is only valid with the METADATA flag, so a data chunk moved to 0 (or chunk 0 moved) is malformed.
    const index = new DataView(tampered.buffer, tampered.byteOffset).getUint32(24);
    return c === 0 || index === 0 ? 'BAD_SHARE_FORMAT' : 'STREAM_OUT_OF_ORDER';
  }
  if (b >= 28 && b < 32) return 'MIXED_EPOCH';
  // magic, version, flags, k, body length, reserved
  return 'BAD_SHARE_FORMAT';
}

describe('tampering is detected before plaintext is released', () => {
  // A reader holding exactly k shares: every single-byte change anywhere in any share chunk (header,
  // body or tag) must fail, and no byte of the altered chunk (or any later one) may come out.
  it('every single-byte change to any of k share chunks fails that chunk', async () => {
    const data = randomBytes(100);
    const { fileId, chunks } = await protect(data, { k: 3 });
    const pick = [0, 2, 4];
    let cases = 0;
    for (const { chunk: c, share: j, byte: b, tampered, sets } of singleByteChanges(chunks, pick, 99)) {
      const out = await retrieve(sets, fileId);
      cases++;
      expect(out.error, `chunk ${c} share ${j} byte ${b}`).toBe(
        expectedCode(
          c,
          b,
          tampered,
          pick.map((p) => chunks[c]!.shares[p]![6]!)
        )
      );
      // Only whole chunks before the altered one may have been released.
      expect(eq(out.data, data.subarray(0, Math.max(0, c - 1) * 48))).toBe(true);
    }
    expect(cases).toBeGreaterThan(1000);
  });

  it('with k+1 shares, a change to one share is routed around and that share is named', async () => {
    const data = randomBytes(100);
    const { fileId, chunks } = await protect(data, { k: 3 });
    const pick = [0, 1, 3, 4];
    for (let c = 0; c < chunks.length; c++) {
      for (let pos = 0; pos < pick.length; pos++) {
        const original = chunks[c]!.shares[pick[pos]!]!;
        // Every header byte and a spread of body bytes.
        const bytes = [...Array(HEADER_BYTES).keys(), HEADER_BYTES, HEADER_BYTES + 17, original.length - 16, original.length - 1];
        for (const b of bytes) {
          const tampered = original.slice();
          tampered[b]! ^= 0x5a;
          const sets = pickSets(chunks, pick);
          sets[c] = { index: c, shares: sets[c]!.shares.map((s, i) => (i === pos ? tampered : s)) };
          const out = await retrieve(sets, fileId);
          expect(out.error, `chunk ${c} pos ${pos} byte ${b}`).toBeUndefined();
          expect(eq(out.data, data)).toBe(true);
          expect(out.bad).toEqual([[c, [pos]]]);
        }
      }
    }
  });

  it('a forged share with x = 0 is rejected', async () => {
    const data = randomBytes(60);
    const { fileId, chunks } = await protect(data, { k: 2, xs: [1, 2, 3] });
    const sets = pickSets(chunks, [0, 1]);
    const forged = sets[1]!.shares[0]!.slice();
    forged[6] = 0;
    sets[1] = { index: 1, shares: [forged, sets[1]!.shares[1]!] };
    expect((await retrieve(sets, fileId)).error).toBe('INVALID_X');
    const withSpare = pickSets(chunks, [0, 1, 2]);
    withSpare[1] = { index: 1, shares: [forged, ...withSpare[1]!.shares.slice(1)] };
    const out = await retrieve(withSpare, fileId);
    expect(eq(out.data, data)).toBe(true);
    expect(out.bad).toEqual([[1, [0]]]);
  });
});

describe('stream structure attacks', () => {
  const setup = async () => {
    const data = randomBytes(48 * 3);
    const { fileId, chunks } = await protect(data, { k: 2, xs: [1, 2, 3] });
    return { data, fileId, chunks, sets: pickSets(chunks, [0, 1]) };
  };

  it('truncation: dropping the final chunk fails at the end, after the earlier chunks', async () => {
    const { data, fileId, sets } = await setup();
    const out = await retrieve(sets.slice(0, -1), fileId);
    expect(out.error).toBe('STREAM_TRUNCATED');
    expect(eq(out.data, data.subarray(0, 96))).toBe(true);
  });

  it('truncation: a stream with only the metadata fails', async () => {
    const { fileId, sets } = await setup();
    expect((await retrieve(sets.slice(0, 1), fileId)).error).toBe('STREAM_TRUNCATED');
  });

  it('reordering: chunks out of order fail', async () => {
    const { fileId, sets } = await setup();
    expect((await retrieve([sets[0]!, sets[2]!, sets[1]!, sets[3]!], fileId)).error).toBe('STREAM_OUT_OF_ORDER');
  });

  it('reordering: a relay answering chunk 1 with chunk 2 is caught, even with a rewritten index', async () => {
    const { fileId, chunks } = await setup();
    const sets = pickSets(chunks, [0, 1]);
    const swapped = chunks[2]!.shares[1]!.slice();
    sets[1] = { index: 1, shares: [sets[1]!.shares[0]!, swapped] };
    expect((await retrieve(sets, fileId)).error).toBe('STREAM_OUT_OF_ORDER');
    const rewritten = swapped.slice();
    new DataView(rewritten.buffer).setUint32(24, 1);
    sets[1] = { index: 1, shares: [sets[1].shares[0]!, rewritten] };
    expect((await retrieve(sets, fileId)).error).toBe('AUTH_FAILED');
  });

  it('a non-final chunk relabelled as final (or the reverse) is caught', async () => {
    const { fileId, chunks } = await setup();
    const sets = pickSets(chunks, [0, 1]);
    const final = chunks[3]!.shares[1]!.slice();
    new DataView(final.buffer).setUint32(24, 2);
    sets[2] = { index: 2, shares: [sets[2]!.shares[0]!, final] };
    // Its header (flags, length) disagrees with the honest share's, so the two are not one group.
    expect((await retrieve(sets, fileId)).error).toBe('BAD_SHARE_FORMAT');
    const both = pickSets(chunks, [0, 1]);
    const relabel = (s: Uint8Array) => {
      const t = s.slice();
      t[5] = 1;
      return t;
    };
    both[2] = { index: 2, shares: both[2]!.shares.map(relabel) };
    expect((await retrieve(both, fileId)).error).toBe('AUTH_FAILED');
  });

  /**
   * The FINAL flag is inside the MAC, so flipping its byte fails authentication (above). These chunks are
   * made by the real encoder under the file's real MAC key, so their tags are valid: only the retrieve
   * stream's own check of the flag against the metadata's chunk count can catch them (issue #24, survivor 4).
   */
  const forge = async (finalAt: number | undefined) => {
    const data = randomBytes(48 * 3);
    const fileId = randomBytes(16);
    const macKey = randomBytes(32);
    const enc = await ShareEncoder.create({ k: 2, xs: [1, 2, 3], fileId, epoch: 0 }, macKey);
    const meta = await enc.encodeMetadata({ name: 'f.bin', size: data.length, type: '', chunkSize: 48, chunkCount: 3, createdAt: 0, macKey });
    const sets: ShareSet[] = [{ index: 0, shares: meta.slice(0, 2) }];
    for (let i = 1; i <= 3; i++) {
      const shares = await enc.encodeData(i, i === finalAt, data.subarray((i - 1) * 48, i * 48));
      sets.push({ index: i, shares: shares.slice(0, 2) });
    }
    return { data, fileId, sets };
  };

  it('a validly authenticated chunk falsely marked final, or a last chunk not marked final, fails', async () => {
    const honest = await forge(3);
    expect(eq((await retrieve(honest.sets, honest.fileId)).data, honest.data)).toBe(true);
    const early = await forge(2);
    const out = await retrieve(early.sets, early.fileId);
    expect(out.error).toBe('STREAM_TRUNCATED');
    expect(eq(out.data, early.data.subarray(0, 48))).toBe(true);
    const never = await forge(undefined);
    const none = await retrieve(never.sets, never.fileId);
    expect(none.error).toBe('STREAM_TRUNCATED');
    expect(eq(none.data, never.data.subarray(0, 96))).toBe(true);
  });

  it('extra chunks after the final one fail', async () => {
    const { fileId, sets } = await setup();
    expect((await retrieve([...sets, { index: 4, shares: sets[3]!.shares }], fileId)).error).toBe('STREAM_OUT_OF_ORDER');
  });

  it('a chunk swapped in from another file fails, even with a rewritten file id', async () => {
    const a = await setup();
    const b = await setup();
    const sets = pickSets(a.chunks, [0, 1]);
    sets[1] = { index: 1, shares: [sets[1]!.shares[0]!, b.chunks[1]!.shares[1]!] };
    expect((await retrieve(sets, a.fileId)).error).toBe('MIXED_FILE');
    const rewritten = b.chunks[1]!.shares[1]!.slice();
    rewritten.set(a.fileId, 8);
    sets[1] = { index: 1, shares: [sets[1].shares[0]!, rewritten] };
    expect((await retrieve(sets, a.fileId)).error).toBe('AUTH_FAILED');
  });

  it('mixed epochs fail; one consistent epoch succeeds', async () => {
    const data = randomBytes(40);
    const fileId = randomBytes(16);
    const macKey = randomBytes(32);
    const meta = { name: 'e', size: 40, type: '', chunkSize: 48, createdAt: 1, chunkCount: 1, macKey };
    const enc = async (epoch: number) => {
      const e = await ShareEncoder.create({ k: 2, xs: [1, 2, 3], fileId, epoch }, macKey);
      return [await e.encodeMetadata(meta), await e.encodeData(1, true, data)];
    };
    const e0 = await enc(0);
    const e1 = await enc(1);
    const mixed: ShareSet[] = [
      { index: 0, shares: [e0[0]![0]!, e0[0]![1]!] },
      { index: 1, shares: [e0[1]![0]!, e1[1]![1]!] }
    ];
    expect((await retrieve(mixed, fileId)).error).toBe('MIXED_EPOCH');
    expect((await retrieve(mixed, fileId, { epoch: 0 })).error).toBe('MIXED_EPOCH');
    // Same epoch number in the header but a body from another epoch: the tag fails.
    const relabelled = e1[1]![1]!.slice();
    new DataView(relabelled.buffer).setUint32(28, 0);
    mixed[1] = { index: 1, shares: [e0[1]![0]!, relabelled] };
    expect((await retrieve(mixed, fileId)).error).toBe('AUTH_FAILED');
    const ok = await retrieve(
      [
        { index: 0, shares: [e1[0]![2]!, e1[0]![0]!] },
        { index: 1, shares: [e1[1]![2]!, e1[1]![0]!] }
      ],
      fileId
    );
    expect(eq(ok.data, data)).toBe(true);
  });

  it('fewer than k shares fail with a clear code', async () => {
    const { fileId, chunks } = await setup();
    expect((await retrieve(pickSets(chunks, [0]), fileId)).error).toBe('NOT_ENOUGH_SHARES');
  });
});
