/**
 * The decision a retrieval makes when the epoch it reads may be gone (#15, epoch-follow.ts): hop to the
 * file's current epoch only when the coordinator says it moved on, once for every chunk that failed at the
 * same time, never to a manifest of another file, and at most MAX_EPOCH_HOPS times. The engines that use it
 * are tested end to end: web/src/lib/server/retrieve-epoch.test.ts (kofn retrieve's engine, real relays, the
 * epoch really dropped) and e2e/tests/renewal-cli.spec.ts.
 */
import { describe, expect, it } from 'vitest';
import { EpochFollower, MAX_EPOCH_HOPS, mayBeEpochGone, type FollowedManifest } from './epoch-follow.js';
import { withRelayMoved, type TreeManifest } from '../layout.js';

/** A tree layout, and the same tree with one relay moved (a drain between the epochs). */
const TREE: TreeManifest = {
  kind: 'tree',
  k: 2,
  groups: [
    {
      kind: 'local',
      x: 1,
      k: 2,
      relays: [
        { relayId: 'r1', x: 1 },
        { relayId: 'r2', x: 2 }
      ]
    },
    {
      kind: 'local',
      x: 2,
      k: 2,
      relays: [
        { relayId: 'r3', x: 3 },
        { relayId: 'r4', x: 4 }
      ]
    }
  ]
};
const MOVED_TREE = withRelayMoved(TREE, 'r1', 'r9');
const FIRST: FollowedManifest = { fileId: 'f'.repeat(32), name: 'a.bin', size: 10_000_000, chunkSize: 1 << 20, chunkCount: 10, k: 2, epoch: 0 };

/** A coordinator whose answers the test sets, counting requests; each answer waits for `release` when given. */
function coordinator(epoch = 1) {
  const c = {
    asked: 0,
    next: { ...FIRST, epoch },
    gate: undefined as Promise<void> | undefined,
    current: async (): Promise<FollowedManifest> => {
      c.asked += 1;
      await c.gate;
      return c.next;
    }
  };
  return c;
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (err: unknown) => (err as { code?: string }).code
  );

describe('EpochFollower', () => {
  it('EPOCH_GONE and NOT_FOUND may mean a dropped epoch; nothing else does', () => {
    expect(mayBeEpochGone('EPOCH_GONE')).toBe(true);
    expect(mayBeEpochGone('NOT_FOUND')).toBe(true);
    for (const code of ['AUTH_FAILED', 'MIXED_EPOCH', 'RELAY_TIMEOUT', 'ACCESS_ENDED', 'TOKEN_EXPIRED', undefined]) expect(mayBeEpochGone(code)).toBe(false);
  });

  it('hops to the current epoch when the file moved on, telling the engine before any caller', async () => {
    const c = coordinator(1);
    const seen: number[] = [];
    const f = new EpochFollower(FIRST, { current: c.current, onHop: (m) => seen.push(m.epoch) });
    const moved = await f.moved(0, 'EPOCH_GONE');
    expect(moved?.epoch).toBe(1);
    expect(f.epoch).toBe(1);
    expect(f.manifest).toBe(c.next);
    expect(f.hops).toBe(1);
    expect(seen).toEqual([1]);
  });

  it('chunks failing at once share one request and one hop; a chunk still on the old epoch later hops without asking', async () => {
    const c = coordinator(1);
    let release: () => void = () => undefined;
    c.gate = new Promise<void>((r) => (release = r));
    const hops: number[] = [];
    const f = new EpochFollower(FIRST, { current: c.current, onHop: (m) => hops.push(m.epoch) });
    const all = Array.from({ length: 8 }, (_, i) => f.moved(0, i % 2 ? 'NOT_FOUND' : 'EPOCH_GONE'));
    release();
    const got = await Promise.all(all);
    expect(got.every((m) => m?.epoch === 1)).toBe(true);
    expect(c.asked).toBe(1);
    expect(hops).toEqual([1]);
    // A chunk that began at epoch 0 and fails afterwards: moved already, no request.
    expect((await f.moved(0, 'NOT_FOUND'))?.epoch).toBe(1);
    expect(c.asked).toBe(1);
  });

  it('a NOT_FOUND while the file is still at the epoch read is the relay’s own failure: no hop', async () => {
    const c = coordinator(0);
    const f = new EpochFollower(FIRST, { current: c.current, onHop: () => expect.unreachable('no hop') });
    expect(await f.moved(0, 'NOT_FOUND')).toBeUndefined();
    expect(f.epoch).toBe(0);
    expect(f.hops).toBe(0);
    // Concurrent callers hear the same answer, from one request.
    const c2 = coordinator(0);
    const f2 = new EpochFollower(FIRST, { current: c2.current });
    expect(await Promise.all([f2.moved(0, 'NOT_FOUND'), f2.moved(0, 'NOT_FOUND'), f2.moved(0, 'EPOCH_GONE')])).toEqual([undefined, undefined, undefined]);
    expect(c2.asked).toBe(1);
    // A coordinator restored from a backup naming an older epoch: no hop either.
    const c3 = coordinator(0);
    const f3 = new EpochFollower({ ...FIRST, epoch: 2 }, { current: c3.current });
    expect(await f3.moved(2, 'EPOCH_GONE')).toBeUndefined();
  });

  it('other failures never ask the coordinator', async () => {
    const c = coordinator(1);
    const f = new EpochFollower(FIRST, { current: c.current });
    for (const code of ['AUTH_FAILED', 'RELAY_TIMEOUT', 'MIXED_EPOCH', undefined]) expect(await f.moved(0, code)).toBeUndefined();
    expect(c.asked).toBe(0);
  });

  it('a tree file hops to the same tree at the new epoch; another tree, or a flat file where a tree was, is METADATA_MISMATCH', async () => {
    const same = coordinator(1);
    same.next = { ...same.next, layout: structuredClone(TREE) };
    const tree = new EpochFollower({ ...FIRST, layout: TREE }, { current: same.current });
    expect((await tree.moved(0, 'EPOCH_GONE'))?.epoch).toBe(1);
    const moved = coordinator(1);
    moved.next = { ...moved.next, layout: MOVED_TREE };
    expect(await codeOf(new EpochFollower({ ...FIRST, layout: TREE }, { current: moved.current }).moved(0, 'NOT_FOUND'))).toBe('METADATA_MISMATCH');
    expect(await codeOf(new EpochFollower({ ...FIRST, layout: TREE }, { current: coordinator(1).current }).moved(0, 'NOT_FOUND'))).toBe('METADATA_MISMATCH');
    const flat = coordinator(1);
    flat.next = { ...flat.next, layout: TREE };
    expect(await codeOf(new EpochFollower(FIRST, { current: flat.current }).moved(0, 'NOT_FOUND'))).toBe('METADATA_MISMATCH');
  });

  it(`security: at most ${MAX_EPOCH_HOPS} hops, then EPOCH_GONE; a renewal of several epochs at once counts as one`, async () => {
    const c = coordinator(1);
    const f = new EpochFollower(FIRST, { current: c.current });
    for (let e = 1; e <= MAX_EPOCH_HOPS; e++) {
      c.next = { ...FIRST, epoch: e * 2 };
      expect((await f.moved(f.epoch, 'EPOCH_GONE'))?.epoch).toBe(e * 2);
    }
    expect(f.hops).toBe(MAX_EPOCH_HOPS);
    c.next = { ...FIRST, epoch: 99 };
    const err = await f.moved(f.epoch, 'NOT_FOUND').catch((e: unknown) => e as { code: string; message: string });
    expect(err).toMatchObject({ code: 'EPOCH_GONE' });
    expect((err as { message: string }).message).toMatch(/renewed more than 3 times/);
    expect(f.epoch).toBe(MAX_EPOCH_HOPS * 2);
    // A bound of the caller's own.
    const one = new EpochFollower(FIRST, { current: coordinator(1).current, maxHops: 0 });
    expect(await codeOf(one.moved(0, 'EPOCH_GONE'))).toBe('EPOCH_GONE');
  });

  it('security: a manifest of another file, or of this file with other sizes, threshold or layout, is refused (METADATA_MISMATCH) and not adopted', async () => {
    const changes: Array<Partial<FollowedManifest>> = [
      { fileId: 'e'.repeat(32) },
      { name: 'b.bin' },
      { size: FIRST.size + 1 },
      { chunkSize: FIRST.chunkSize / 2 },
      { chunkCount: FIRST.chunkCount + 1 },
      { k: 3 },
      { layout: TREE }
    ];
    for (const change of changes) {
      const c = coordinator(1);
      c.next = { ...FIRST, epoch: 1, ...change };
      const f = new EpochFollower(FIRST, { current: c.current, onHop: () => expect.unreachable('no hop') });
      expect(await codeOf(f.moved(0, 'EPOCH_GONE')), JSON.stringify(change)).toBe('METADATA_MISMATCH');
      expect(f.epoch).toBe(0);
    }
  });

  it('a failure to read the manifest reaches every chunk waiting on it, and the next failure asks again', async () => {
    let calls = 0;
    const f = new EpochFollower(FIRST, {
      current: () => {
        calls += 1;
        return calls === 1 ? Promise.reject(Object.assign(new Error('down'), { code: 'COORDINATOR_UNREACHABLE' })) : Promise.resolve({ ...FIRST, epoch: 1 });
      }
    });
    expect(await Promise.all([codeOf(f.moved(0, 'EPOCH_GONE')), codeOf(f.moved(0, 'NOT_FOUND'))])).toEqual(['COORDINATOR_UNREACHABLE', 'COORDINATOR_UNREACHABLE']);
    expect((await f.moved(0, 'EPOCH_GONE'))?.epoch).toBe(1);
    expect(calls).toBe(2);
  });

  it('an engine that cannot adopt the new epoch (onHop throws) fails every waiting chunk', async () => {
    const f = new EpochFollower(FIRST, {
      current: coordinator(1).current,
      onHop: () => {
        throw Object.assign(new Error('too few relays'), { code: 'RELAYS_OFFLINE' });
      }
    });
    expect(await Promise.all([codeOf(f.moved(0, 'EPOCH_GONE')), codeOf(f.moved(0, 'EPOCH_GONE'))])).toEqual(['RELAYS_OFFLINE', 'RELAYS_OFFLINE']);
  });
});
