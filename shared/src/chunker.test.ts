import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { chunksOf, createChunker, readChunks } from './chunker.js';
import { randomBytes } from './random.js';

/** A stream of `data` in pieces of the given sizes (cycled): a byte stream, as Blob.stream() is, or a default one. */
function piecewise(data: Uint8Array, sizes: number[], bytes: boolean, onCancel?: () => void): ReadableStream<Uint8Array> {
  let off = 0;
  let i = 0;
  const next = () => {
    const n = Math.max(1, sizes[i++ % sizes.length]!);
    const piece = data.slice(off, off + n);
    off += piece.length;
    return piece;
  };
  if (bytes) {
    return new ReadableStream({
      type: 'bytes',
      pull(c) {
        if (off >= data.length) {
          c.close();
          c.byobRequest?.respond(0);
          return;
        }
        const piece = next();
        const view = c.byobRequest?.view;
        if (view) {
          // Answer into the reader's own buffer when it lent one (what makes BYOB copy-free).
          const n = Math.min(piece.length, view.byteLength);
          new Uint8Array(view.buffer, view.byteOffset, n).set(piece.subarray(0, n));
          off -= piece.length - n;
          c.byobRequest.respond(n);
        } else c.enqueue(piece);
      },
      cancel: onCancel
    });
  }
  return new ReadableStream({
    pull(c) {
      if (off >= data.length) c.close();
      else c.enqueue(next());
    },
    cancel: onCancel
  });
}

async function collect(stream: ReadableStream<Uint8Array>, chunkSize: number, lend: ArrayBuffer[] = []) {
  const taken: ArrayBuffer[] = [];
  const chunks: Uint8Array[] = [];
  for await (const c of readChunks(stream, chunkSize, () => {
    const b = lend.pop() ?? new ArrayBuffer(chunkSize);
    taken.push(b);
    return b;
  })) {
    chunks.push(c.slice());
    lend.push(c.buffer);
  }
  return { chunks, taken };
}

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
};

describe('readChunks', () => {
  for (const bytes of [true, false]) {
    const kind = bytes ? 'byte stream (BYOB)' : 'default stream';

    it(`${kind}: cuts exact chunks, the last shorter, whatever the pieces`, async () => {
      const data = randomBytes(1000);
      const { chunks } = await collect(piecewise(data, [37, 1, 300, 64], bytes), 128);
      expect(chunks.map((c) => c.length)).toEqual([128, 128, 128, 128, 128, 128, 128, 104]);
      expect(concat(chunks)).toEqual(data);
    });

    it(`${kind}: an exact multiple ends without an empty chunk, an empty stream yields nothing`, async () => {
      const data = randomBytes(256);
      expect((await collect(piecewise(data, [100], bytes), 64)).chunks.map((c) => c.length)).toEqual([64, 64, 64, 64]);
      expect((await collect(piecewise(new Uint8Array(0), [10], bytes), 64)).chunks).toEqual([]);
    });

    it(`${kind}: reads into the buffers it is lent, so given back they are reused`, async () => {
      const data = randomBytes(64 * 20);
      const { chunks, taken } = await collect(piecewise(data, [50], bytes), 64);
      expect(chunks).toHaveLength(20);
      // Each chunk's buffer went back to the lender: one buffer served every chunk (plus the one that met the end).
      expect(new Set(taken.map((b) => b)).size).toBeLessThanOrEqual(bytes ? 21 : 1);
      // BYOB must lend one more buffer to learn that the stream ended; the slicer takes one only for data.
      expect(taken.length).toBe(bytes ? 21 : 20);
      expect(concat(chunks)).toEqual(data);
    });

    it(`${kind}: a lent buffer too small is replaced, not overrun`, async () => {
      const data = randomBytes(200);
      const { chunks } = await collect(piecewise(data, [33], bytes), 64, [new ArrayBuffer(8)]);
      expect(chunks.map((c) => c.length)).toEqual([64, 64, 64, 8]);
      expect(concat(chunks)).toEqual(data);
    });

    it(`${kind}: a consumer that stops early cancels the stream`, async () => {
      let cancelled = false;
      const stream = piecewise(randomBytes(1000), [100], bytes, () => (cancelled = true));
      for await (const c of readChunks(stream, 64, () => new ArrayBuffer(64))) {
        expect(c.length).toBe(64);
        break;
      }
      expect(cancelled).toBe(true);
    });

    it(`${kind}: any data in any pieces comes back whole in full chunks (property)`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ maxLength: 600 }),
          fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 8 }),
          fc.integer({ min: 1, max: 150 }),
          async (data, sizes, chunkSize) => {
            const { chunks } = await collect(piecewise(data, sizes, bytes), chunkSize);
            expect(concat(chunks)).toEqual(data);
            expect(chunks.every((c, i) => c.length === chunkSize || (i === chunks.length - 1 && c.length > 0))).toBe(true);
          }
        ),
        { numRuns: 60 }
      );
    });
  }

  it('a byte stream is read in place: the buffer lent is the one the chunk comes back in', async () => {
    const data = randomBytes(64);
    const lent = new ArrayBuffer(64);
    const got: ArrayBuffer[] = [];
    for await (const c of readChunks(piecewise(data, [64], true), 64, () => lent)) got.push(c.buffer);
    // BYOB moves the lent buffer (it is detached) into the chunk, with no copy made by readChunks.
    expect(lent.byteLength).toBe(0);
    expect(got).toHaveLength(1);
    expect(new Uint8Array(got[0]!)).toEqual(data);
  });
});

/** A default (not byte) stream of exactly these pieces. */
function streamOf(pieces: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < pieces.length) c.enqueue(pieces[i++]!);
      else c.close();
    }
  });
}

/** Collects the chunks of `pieces` through each shape of the chunker; copies, since buffers may be lent back. */
const shapes: Record<string, (pieces: Uint8Array[], chunkSize: number) => Promise<Uint8Array[]>> = {
  chunksOf: async (pieces, chunkSize) => {
    const out: Uint8Array[] = [];
    const spare: ArrayBuffer[] = [];
    for await (const c of chunksOf(Readable.from(pieces.map((p) => Buffer.from(p))), chunkSize, () => spare.pop())) {
      out.push(c.slice());
      spare.push(c.buffer);
    }
    return out;
  },
  createChunker: async (pieces, chunkSize) => {
    const out: Uint8Array[] = [];
    await streamOf(pieces)
      .pipeThrough(createChunker(chunkSize))
      .pipeTo(new WritableStream({ write: (c) => void out.push(c.slice()) }));
    return out;
  },
  'readChunks (default stream)': async (pieces, chunkSize) => {
    const out: Uint8Array[] = [];
    for await (const c of readChunks(streamOf(pieces), chunkSize, () => new ArrayBuffer(chunkSize))) out.push(c.slice());
    return out;
  }
};

describe.each(Object.entries(shapes))('%s', (_, collectShape) => {
  const data = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);

  it('cuts any split of the input into exact chunks, the last shorter, never an empty one', async () => {
    const pieces = [data.subarray(0, 7), data.subarray(7, 300), data.subarray(300, 301), data.subarray(301)];
    const out = await collectShape(pieces, 128);
    expect(out.map((c) => c.length)).toEqual([...Array<number>(7).fill(128), 1000 - 7 * 128]);
    expect(concat(out)).toEqual(data);
  });

  it('empty input, and input of only empty pieces, give no chunk', async () => {
    expect(await collectShape([], 64)).toEqual([]);
    expect(await collectShape([new Uint8Array(0), new Uint8Array(0)], 64)).toEqual([]);
  });

  it('an exact multiple ends on a full chunk, with no empty one after it', async () => {
    const out = await collectShape([data.subarray(0, 500), data.subarray(500, 512)], 128);
    expect(out.map((c) => c.length)).toEqual([128, 128, 128, 128]);
    expect(concat(out)).toEqual(data.subarray(0, 512));
  });

  it('tiny reads (one byte at a time) and pieces larger than several chunks give the same chunks', async () => {
    const ones = Array.from(data.subarray(0, 300), (b) => Uint8Array.of(b));
    const tiny = await collectShape(ones, 64);
    const big = await collectShape([data.subarray(0, 300)], 64);
    expect(tiny.map((c) => c.length)).toEqual([64, 64, 64, 64, 44]);
    expect(concat(tiny)).toEqual(data.subarray(0, 300));
    expect(concat(big)).toEqual(data.subarray(0, 300));
    expect(big.map((c) => c.length)).toEqual(tiny.map((c) => c.length));
  });

  it('a chunk size of one byte gives one chunk per byte', async () => {
    const out = await collectShape([data.subarray(0, 3), data.subarray(3, 5)], 1);
    expect(out.map((c) => Array.from(c))).toEqual([[0], [1], [2], [3], [4]]);
  });
});

describe('chunksOf', () => {
  it('refuses a chunk size that is not a positive integer, with a stable code', async () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      await expect(chunksOf(Readable.from([]), bad).next()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect(() => createChunker(bad)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      await expect(readChunks(streamOf([]), bad, () => undefined).next()).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  it('keeps memory flat: buffers given back are reused, so a long input goes through one buffer', async () => {
    const spare: ArrayBuffer[] = [];
    const seen = new Set<ArrayBufferLike>();
    let total = 0;
    // 64 chunks of 1 KiB from pieces of 700 bytes.
    const pieces = Array.from({ length: 93 }, () => randomBytes(700)).concat([randomBytes(64 * 1024 - 93 * 700)]);
    for await (const c of chunksOf(Readable.from(pieces), 1024, () => spare.pop())) {
      seen.add(c.buffer);
      total += c.length;
      spare.push(c.buffer);
    }
    expect(total).toBe(64 * 1024);
    expect(seen.size).toBe(1);
  });

  it('a lent buffer too small is replaced, not overrun', async () => {
    const out: number[] = [];
    for await (const c of chunksOf(Readable.from([randomBytes(200)]), 64, () => new ArrayBuffer(8))) out.push(c.length, c.buffer.byteLength);
    expect(out).toEqual([64, 64, 64, 64, 64, 64, 8, 64]);
  });

  it('reads no further ahead than the chunk asked for (back-pressure)', async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 1000; i++) {
        pulled++;
        yield new Uint8Array(100);
      }
    }
    const it = chunksOf(source(), 250);
    await it.next();
    await it.next();
    // Two chunks of 250 need 500 bytes: five pieces, and the generator has not asked for a sixth.
    expect(pulled).toBe(5);
    await it.return(undefined);
  });

  it('a consumer that stops early stops the source (its finally runs)', async () => {
    let closed = false;
    async function* source() {
      try {
        for (;;) yield new Uint8Array(10);
      } finally {
        closed = true;
      }
    }
    for await (const c of chunksOf(source(), 25)) {
      expect(c.length).toBe(25);
      break;
    }
    expect(closed).toBe(true);
  });
});

describe('createChunker', () => {
  it('applies back-pressure: with nobody reading, the writer stops being ready after a bounded amount', async () => {
    const chunker = createChunker(100);
    const writer = chunker.writable.getWriter();
    let accepted = 0;
    for (let i = 0; i < 50; i++) {
      const ready = await Promise.race([writer.ready.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 20))]);
      if (!ready) break;
      void writer.write(new Uint8Array(100)).catch(() => undefined);
      accepted++;
    }
    // Default queuing strategies: one chunk waiting on each side, one in transform: a handful, not 50.
    expect(accepted).toBeLessThan(5);
    const reader = chunker.readable.getReader();
    expect((await reader.read()).value?.length).toBe(100);
    await reader.cancel();
  });
});
