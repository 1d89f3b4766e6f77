import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FLAG_FINAL, FLAG_METADATA, FORMAT_VERSION_TREE, HEADER_BYTES, parseHeader, writeHeader } from './chunk-format.js';
import { ShareDecoder } from './codec.js';
import { checkLayoutRequest, checkTreeManifest, treeRelays, type TreeManifest } from './layout.js';
import { TreeDecoder, TreeEncoder, looksLikeTree } from './multilevel.js';
import { ShamirEngine } from './shamir.js';
import { createProtectStream, createRetrieveStream, type EncodedChunk } from './streams.js';
import { randomBytes } from './random.js';
import type { MetadataRecord } from './metadata.js';

/** A tree of `groups` groups: group g has relays[g] relays, thresholds from `ks`; x's spread over 1..255. */
function tree(K: number, groups: Array<{ k: number; n: number }>): TreeManifest {
  let rx = 3;
  return {
    kind: 'tree',
    k: K,
    groups: groups.map((g, gi) => ({ kind: 'local', x: 200 - gi * 7, k: g.k, relays: Array.from({ length: g.n }, (_, i) => ({ relayId: `r${gi}-${i}`, x: (rx += 5 + i) })) }))
  };
}

const fileId = Uint8Array.from({ length: 16 }, (_, i) => i * 7 + 1);

function meta(size: number, chunkSize: number): MetadataRecord {
  return { name: 'a.bin', type: 'application/octet-stream', size, chunkSize, chunkCount: Math.ceil(size / chunkSize), createdAt: 1, macKey: new Uint8Array(32).fill(5) };
}

/** Positions (in treeRelays order) of the relays kept: `pick[g]` = indexes of relays kept in group g. */
function keep(t: TreeManifest, pick: number[][]): number[] {
  const out: number[] = [];
  let base = 0;
  t.groups.forEach((g, gi) => {
    for (const i of pick[gi] ?? []) out.push(base + i);
    base += g.kind === 'local' ? g.relays.length : 0;
  });
  return out;
}

/** An engine that records how many points every Lagrange evaluation (combine or check) was given. */
function countingEngine(): { engine: ShamirEngine; points: number[] } {
  const engine = new ShamirEngine();
  const points: number[] = [];
  // combineInto is interpolateInto at 0: every Lagrange evaluation, at 0 or at a share's x, goes through here.
  const interp = engine.interpolateInto.bind(engine);
  engine.interpolateInto = (ys, xs, at, out, off) => {
    points.push(ys.length);
    interp(ys, xs, at, out, off);
  };
  return { engine, points };
}

describe('version 3 header (tree share)', () => {
  it('writes and parses the group x and K in bytes 36..37, with the relay x and k_g in bytes 6..7', () => {
    const out = new Uint8Array(HEADER_BYTES + 5);
    writeHeader(out, { flags: FLAG_METADATA, x: 17, k: 2, fileId, index: 0, epoch: 4, bodyLength: 5, group: { x: 99, k: 3 } });
    expect([...out.subarray(4, 8)]).toEqual([FORMAT_VERSION_TREE, FLAG_METADATA, 17, 2]);
    expect([...out.subarray(36, 40)]).toEqual([99, 3, 0, 0]);
    const h = parseHeader(out);
    expect(h.group).toEqual({ x: 99, k: 3 });
    expect([h.x, h.k, h.epoch, h.index]).toEqual([17, 2, 4, 0]);
  });

  it('refuses group x = 0, K < 2 and non-zero reserved bytes', () => {
    const out = new Uint8Array(HEADER_BYTES);
    writeHeader(out, { flags: FLAG_METADATA, x: 17, k: 2, fileId, index: 0, epoch: 0, bodyLength: 0, group: { x: 9, k: 2 } });
    const bad = (i: number, v: number) => {
      const c = out.slice();
      c[i] = v;
      return c;
    };
    expect(() => parseHeader(bad(36, 0))).toThrow(expect.objectContaining({ code: 'INVALID_X' }));
    expect(() => parseHeader(bad(37, 1))).toThrow(expect.objectContaining({ code: 'BAD_SHARE_FORMAT' }));
    expect(() => parseHeader(bad(38, 1))).toThrow(expect.objectContaining({ code: 'BAD_SHARE_FORMAT' }));
    expect(() => parseHeader(bad(39, 1))).toThrow(expect.objectContaining({ code: 'BAD_SHARE_FORMAT' }));
  });
});

describe('layout checks: one code per rule', () => {
  const ok = { kind: 'tree', k: 2, groups: [0, 1, 2].map((g) => ({ kind: 'local', k: 2, relays: [`a${g}`, `b${g}`, `c${g}`] })) };
  const variant = (f: (l: typeof ok) => void) => {
    const l = structuredClone(ok);
    f(l);
    return l;
  };
  it('accepts 2 of 3 groups, 2 of 3 relays each', () => {
    expect(checkLayoutRequest(ok).groups).toHaveLength(3);
  });
  it.each([
    ['LAYOUT_RELAY_TWICE', variant((l) => (l.groups[1]!.relays[0] = 'a0'))],
    ['LAYOUT_RELAY_TWICE', variant((l) => (l.groups[0]!.relays[1] = 'a0'))],
    ['LAYOUT_GROUP_THRESHOLD', variant((l) => (l.groups[2]!.k = 4))],
    ['LAYOUT_GROUP_THRESHOLD', variant((l) => (l.groups[2]!.k = 1))],
    ['LAYOUT_EMPTY_GROUP', variant((l) => (l.groups[0]!.relays = []))],
    ['LAYOUT_TOP_THRESHOLD', variant((l) => (l.k = 4))],
    ['LAYOUT_TOP_THRESHOLD', variant((l) => (l.k = 1))],
    ['LAYOUT_INVALID', variant((l) => (l.k = 1.5))],
    ['LAYOUT_INVALID', variant((l) => ((l as { kind: string }).kind = 'flat'))],
    ['LAYOUT_INVALID', variant((l) => ((l.groups[0] as { kind: string }).kind = 'other'))],
    ['LAYOUT_INVALID', variant((l) => ((l.groups[0]!.relays as unknown[])[0] = 7))],
    ['LAYOUT_INVALID', { kind: 'tree', k: 2, groups: [] }],
    ['LAYOUT_INVALID', null]
  ])('%s', (code, layout) => {
    expect(() => checkLayoutRequest(layout)).toThrow(expect.objectContaining({ code }));
  });
  it('groups on other deployments: refused when any one deployment holds K groups (it alone could rebuild the file)', () => {
    const remote = (deployment: string, fileId: string) => ({ kind: 'remote', deployment, k: 2, n: 3, fileId });
    const local = (relays: string[]) => ({ kind: 'local', k: 2, relays });
    const layout = (k: number, groups: unknown[]) => ({ kind: 'tree', k, groups });
    const A = local(['a0', 'a1']);
    const B = local(['b0', 'b1']);
    const X = remote('dep-x', 'a'.repeat(32));
    const X2 = remote('dep-x', 'b'.repeat(32));
    const Y = remote('dep-y', 'c'.repeat(32));
    // This deployment's two groups are K = 2: its coordinator alone could rebuild.
    expect(() => checkLayoutRequest(layout(2, [A, B, X]))).toThrow(
      expect.objectContaining({ code: 'LAYOUT_ONE_DEPLOYMENT', message: expect.stringContaining('this deployment would hold 2 of the 2 groups needed') })
    );
    // Two groups on X: X alone.
    expect(() => checkLayoutRequest(layout(2, [A, X, X2]))).toThrow(expect.objectContaining({ code: 'LAYOUT_ONE_DEPLOYMENT', message: expect.stringContaining('deployment dep-x would hold 2') }));
    // Every deployment short of K: accepted.
    expect(checkLayoutRequest(layout(3, [A, B, X])).k).toBe(3);
    expect(checkLayoutRequest(layout(2, [A, X])).k).toBe(2);
    expect(checkLayoutRequest(layout(2, [A, X, Y])).groups).toHaveLength(3);
    expect(checkLayoutRequest(layout(3, [A, X, X2, Y])).k).toBe(3);
    // One deployment only: no such promise, K groups of its own are the point.
    expect(checkLayoutRequest(layout(2, [A, B])).k).toBe(2);
    // A stored file's tree from before the rule stays readable.
    const stored = {
      kind: 'tree',
      k: 2,
      groups: [
        {
          ...A,
          x: 1,
          relays: [
            { relayId: 'a0', x: 1 },
            { relayId: 'a1', x: 2 }
          ]
        },
        {
          ...B,
          x: 2,
          relays: [
            { relayId: 'b0', x: 3 },
            { relayId: 'b1', x: 4 }
          ]
        },
        { ...X, x: 3 }
      ]
    };
    expect(checkTreeManifest(stored).groups).toHaveLength(3);
  });
  it('a manifest tree needs distinct group x and relay x over the whole file', () => {
    const t = tree(2, [
      { k: 2, n: 3 },
      { k: 2, n: 3 }
    ]);
    expect(checkTreeManifest(t)).toEqual(t);
    const dupRelayX = structuredClone(t);
    (dupRelayX.groups[1] as { relays: Array<{ x: number }> }).relays[0]!.x = (t.groups[0] as { relays: Array<{ x: number }> }).relays[0]!.x;
    expect(() => checkTreeManifest(dupRelayX)).toThrow(expect.objectContaining({ code: 'LAYOUT_INVALID' }));
    const dupGroupX = structuredClone(t);
    dupGroupX.groups[1]!.x = t.groups[0]!.x;
    expect(() => checkTreeManifest(dupGroupX)).toThrow(expect.objectContaining({ code: 'LAYOUT_INVALID' }));
  });
});

describe('two-level split and combine', () => {
  it('any K groups with any k_g relays each rebuild every chunk (property)', async () => {
    const layouts = fc
      .array(
        fc.integer({ min: 2, max: 4 }).chain((n) => fc.record({ n: fc.constant(n), k: fc.integer({ min: 2, max: n }) })),
        { minLength: 2, maxLength: 4 }
      )
      .chain((groups) => fc.record({ groups: fc.constant(groups), K: fc.integer({ min: 2, max: groups.length }) }));
    await fc.assert(
      fc.asyncProperty(layouts, fc.uint8Array({ maxLength: 300 }), fc.infiniteStream(fc.nat()), async ({ groups, K }, data, picks) => {
        const t = tree(K, groups);
        const enc = await TreeEncoder.create({ tree: t, fileId, epoch: 0 }, new Uint8Array(32).fill(5));
        const m = meta(data.length, 1000);
        const c0 = await enc.encodeMetadata(m);
        const c1 = data.length > 0 ? await enc.encodeData(1, true, data) : undefined;
        // K distinct groups and, in each, k_g distinct relays, chosen by the property's stream.
        const it = picks[Symbol.iterator]();
        const order = groups.map((_, i) => i);
        for (let i = order.length - 1; i > 0; i--) {
          const j = it.next().value! % (i + 1);
          [order[i], order[j]] = [order[j]!, order[i]!];
        }
        const pick: number[][] = groups.map(() => []);
        for (const g of order.slice(0, K)) {
          const rs = Array.from({ length: groups[g]!.n }, (_, i) => i);
          for (let i = rs.length - 1; i > 0; i--) {
            const j = it.next().value! % (i + 1);
            [rs[i], rs[j]] = [rs[j]!, rs[i]!];
          }
          pick[g] = rs.slice(0, groups[g]!.k);
        }
        const pos = keep(t, pick);
        const { engine, points } = countingEngine();
        const dec = new TreeDecoder(engine);
        const d0 = await dec.decodeMetadata(
          pos.map((p) => c0[p]!),
          { fileId }
        );
        expect(d0.meta.size).toBe(data.length);
        expect(d0.bad).toEqual([]);
        if (c1) {
          const d1 = await dec.decodeData(
            pos.map((p) => c1[p]!),
            { fileId, index: 1 }
          );
          expect(d1.data).toEqual(data);
        }
        // Every combine had exactly k_g or K points: never fewer than a threshold.
        const allowed = new Set([K, ...groups.map((g) => g.k)]);
        for (const p of points) expect(allowed.has(p)).toBe(true);
      }),
      { numRuns: 40 }
    );
  });

  it('K-1 groups in full, and the other groups one relay short, rebuild nothing and combine nothing below a threshold', async () => {
    const groups = [
      { k: 2, n: 3 },
      { k: 3, n: 4 },
      { k: 2, n: 2 }
    ];
    const t = tree(2, groups);
    const enc = await TreeEncoder.create({ tree: t, fileId, epoch: 0 }, new Uint8Array(32).fill(5));
    const c0 = await enc.encodeMetadata(meta(10, 100));
    // Group 0 whole (K-1 = 1 group), group 1 with 2 of 4 (k_g = 3), group 2 with 1 of 2.
    const pos = keep(t, [[0, 1, 2], [0, 1], [1]]);
    const { engine, points } = countingEngine();
    await expect(
      new TreeDecoder(engine).decodeMetadata(
        pos.map((p) => c0[p]!),
        { fileId }
      )
    ).rejects.toMatchObject({ code: 'NOT_ENOUGH_SHARES' });
    // Only group 0 was combined (3 sub-shares: 2 for its share, 1 checked against them); the top level never ran.
    expect(points).toEqual([2, 2]);
  });

  it('a flat decoder refuses tree shares, and a tree decoder flat ones', async () => {
    const t = tree(2, [
      { k: 2, n: 2 },
      { k: 2, n: 2 }
    ]);
    const enc = await TreeEncoder.create({ tree: t, fileId, epoch: 0 }, new Uint8Array(32).fill(5));
    const c0 = await enc.encodeMetadata(meta(0, 100));
    expect(looksLikeTree(c0)).toBe(true);
    await expect(new ShareDecoder().decodeMetadata(c0, { fileId })).rejects.toMatchObject({ code: 'BAD_SHARE_FORMAT' });
    expect(c0.every((c) => parseHeader(c).group !== undefined && (parseHeader(c).flags & FLAG_FINAL) !== 0)).toBe(true);
  });
});

async function protectTree(t: TreeManifest, data: Uint8Array, chunkSize: number): Promise<EncodedChunk[]> {
  const p = await createProtectStream({ k: t.k, xs: [], tree: t, fileId, file: { name: 'f.bin', type: 'application/octet-stream', size: data.length, chunkSize } });
  const writing = (async () => {
    const w = p.writable.getWriter();
    await w.write(data);
    await w.close();
  })();
  const out: EncodedChunk[] = [];
  for await (const c of p.readable) out.push(c);
  await writing;
  return out;
}

async function retrieve(chunks: EncodedChunk[], pos: number[], alter?: (index: number, shares: Uint8Array[]) => void): Promise<{ data: Uint8Array; bad: Array<[number, number[]]> }> {
  const bad: Array<[number, number[]]> = [];
  const r = createRetrieveStream({ fileId, onBadShares: (i, p) => bad.push([i, p]) });
  const w = r.writable.getWriter();
  const writing = (async () => {
    for (const c of chunks) {
      const shares = pos.map((p) => c.shares[p]!.slice());
      alter?.(c.index, shares);
      await w.write({ index: c.index, shares });
    }
    await w.close();
  })();
  // The readable side errors with the same error; the writer's rejection is that one, seen from the other end.
  writing.catch(() => undefined);
  const parts: Uint8Array[] = [];
  for await (const d of r.readable) parts.push(d);
  await writing;
  const data = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    data.set(p, o);
    o += p.length;
  }
  return { data, bad };
}

describe('tree files through the streams', () => {
  const t = tree(2, [
    { k: 2, n: 3 },
    { k: 2, n: 3 },
    { k: 2, n: 3 }
  ]);

  it.each([0, 1, 999, 5000])('%i bytes: 2 of 3 groups, 2 of 3 relays each, with one whole group and one relay of another missing', async (size) => {
    const data = randomBytes(size);
    const chunks = await protectTree(t, data, 1024);
    expect(chunks).toHaveLength(1 + Math.ceil(size / 1024));
    expect(chunks.every((c) => c.shares.length === 9)).toBe(true);
    // Group 0 down, relay 1 of group 2 down.
    const out = await retrieve(chunks, keep(t, [[], [0, 1, 2], [0, 2]]));
    expect(out.data).toEqual(data);
    expect(out.bad).toEqual([]);
  });

  /** Every way to choose `k` of `n` relay positions (issue #21's (2 of 2, each 3 of 5) layout: 10 per group). */
  const choose = (n: number, k: number): number[][] => (k === 0 ? [[]] : n < k ? [] : [...choose(n - 1, k - 1).map((c) => [...c, n - 1]), ...choose(n - 1, k)]);

  it.each([0, 1, 3000])('%i bytes: 2 of 2 groups, 3 of 5 relays each: every 3 of each group rebuild, 2 of one rebuild nothing', async (size) => {
    const wide = tree(2, [
      { k: 3, n: 5 },
      { k: 3, n: 5 }
    ]);
    const data = randomBytes(size);
    const chunks = await protectTree(wide, data, 1024);
    expect(chunks.every((c) => c.shares.length === 10)).toBe(true);
    const threes = choose(5, 3);
    expect(threes).toHaveLength(10);
    // Each of the 10 choices in group 0, against a different choice in group 1 each time, and the reverse.
    for (const [i, a] of threes.entries()) {
      expect((await retrieve(chunks, keep(wide, [a, threes[(i + 3) % 10]!]))).data).toEqual(data);
      expect((await retrieve(chunks, keep(wide, [threes[(i + 7) % 10]!, a]))).data).toEqual(data);
    }
    // One relay short in one group (K = G = 2: that group's share is lost), even with the other group whole.
    for (const two of choose(5, 2)) {
      await expect(retrieve(chunks, keep(wide, [two, [0, 1, 2, 3, 4]]))).rejects.toMatchObject({ code: 'NOT_ENOUGH_SHARES' });
    }
  });

  it('names an altered sub-share when its group has a spare relay, and still releases the file', async () => {
    const data = randomBytes(3000);
    const chunks = await protectTree(t, data, 1024);
    const pos = keep(t, [[0, 1, 2], [0, 1], []]);
    const out = await retrieve(chunks, pos, (index, shares) => {
      if (index === 2) shares[1]![HEADER_BYTES + 10]! ^= 1;
    });
    expect(out.data).toEqual(data);
    expect(out.bad).toEqual([[2, [1]]]);
  });

  it('with exactly K groups of k_g, any flipped byte of any share chunk fails the file, releasing nothing after it', async () => {
    const data = randomBytes(40);
    const small = tree(2, [
      { k: 2, n: 2 },
      { k: 2, n: 2 }
    ]);
    const chunks = await protectTree(small, data, 32);
    const pos = [0, 1, 2, 3];
    for (const c of chunks) {
      for (let s = 0; s < 4; s++) {
        for (let b = 0; b < c.shares[s]!.length; b++) {
          const outcome = await retrieve(chunks, pos, (index, shares) => {
            if (index === c.index) shares[s]![b]! ^= 0x20;
          }).then(
            (r) => r,
            (e: unknown) => e
          );
          expect(outcome, `chunk ${c.index} share ${s} byte ${b}`).toMatchObject({ code: expect.any(String) });
        }
      }
    }
  });

  it('keeps the order of treeRelays: group by group', () => {
    expect(treeRelays(t).map((r) => r.relayId)).toEqual(['r0-0', 'r0-1', 'r0-2', 'r1-0', 'r1-1', 'r1-2', 'r2-0', 'r2-1', 'r2-2']);
  });
});
