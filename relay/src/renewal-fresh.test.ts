/**
 * Replacing a relay by one at a fresh x inside a renewal (shared/docs/renewal.md, "Replacing a relay at a fresh
 * x"), on real relays over loopback: the leaving relay R takes no part, the spare S receives one contribution
 * per dealer (each dealer's sub-share plus its Lagrange term at the fresh x), stages their XOR as its epoch-1
 * share, and the parity check over the new set passes; any k of the new set rebuild byte-identical; R's
 * leftover epoch-0 share never combines with epoch-1 shares; S never holds an epoch-0 point, and each of its
 * inputs, and the XOR of any k-1 of them, stays masked by fresh dealer randomness (chi-squared).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER_BYTES, ShamirEngine, failedEquations, freshCheckWeights, freshCoefficients, parseHeader, writeHeader, gfMul } from '@kofn/shared';
import { codeOf } from '@kofn/shared/testing';
import { randomBytes } from 'node:crypto';
import { contributionId, epochId, receiversHash } from './renewal.js';
import { client, mint, protectOnto, readShare, rebuild, startCluster, type Cluster, type StorageKind, type StoredFile, type TestRelay } from './testing/renewal.js';

const FX = 200;

function subsets<T>(items: T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (items.length < k) return [];
  const [first, ...rest] = items;
  return [...subsets(rest, k - 1).map((s) => [first!, ...s]), ...subsets(rest, k)];
}

/** Chi-squared of the byte histogram against uniform (255 degrees of freedom). */
function chiSquare(bytes: Uint8Array): number {
  const counts = new Array<number>(256).fill(0);
  for (const b of bytes) counts[b]!++;
  const expected = bytes.length / 256;
  return counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
}
/** p = 0.001 for 255 degrees of freedom (Wilson-Hilferty): 330.5. */
const CHI_BOUND = 330.5;

const xorInto = (acc: Uint8Array, v: Uint8Array): void => {
  for (let b = 0; b < acc.length; b++) acc[b]! ^= v[b]!;
};

interface Plan {
  /** The new set, in manifest (x) order: relays and their x. */
  members: Array<{ relay: TestRelay; x: number }>;
  dxs: number[];
  leaving: number;
  spare: TestRelay;
}

function planFor(cluster: Cluster, file: StoredFile, leaving: number): Plan {
  const n = file.xs.length;
  const members = [...file.xs.map((x, j) => ({ relay: cluster.relays[j]!, x })).filter((_, j) => j !== leaving), { relay: cluster.relays[n]!, x: FX }].sort((a, b) => a.x - b.x);
  const dxs = members
    .filter((m) => m.x !== FX)
    .slice(0, file.k)
    .map((m) => m.x);
  return { members, dxs, leaving, spare: cluster.relays[n]! };
}

async function dealFresh(cluster: Cluster, file: StoredFile, plan: Plan, dealerX: number): Promise<void> {
  const dealer = plan.members.find((m) => m.x === dealerX)!.relay;
  const receivers = await Promise.all(
    plan.members.map(async (m) => ({
      x: m.x,
      id: m.relay.id,
      name: m.relay.name,
      url: m.relay.url,
      token: await mint(cluster, m.relay, file.fileId, 'renew_put', { ep: 1, dx: dealerX, chunks: [0, file.chunks - 1], max: Math.max(...file.bodyLengths) + HEADER_BYTES })
    }))
  );
  const token = await mint(cluster, dealer, file.fileId, 'renew_deal', { ep: 1, rh: receiversHash(receivers), fx: FX, dxs: plan.dxs });
  await client(dealer, token).renewalStep(file.fileId, 1, 'deal', { receivers }, 1024);
}

async function prepareAll(cluster: Cluster, file: StoredFile, plan: Plan): Promise<void> {
  for (const m of plan.members) {
    const fresh = m.x === FX ? { fx: FX, chunks: [0, file.chunks - 1] } : {};
    await client(m.relay, await mint(cluster, m.relay, file.fileId, 'renew_prepare', { ep: 1, dxs: plan.dxs, ...fresh })).renewalStep(file.fileId, 1, 'prepare', {}, 1 << 20);
  }
}

async function checkFresh(cluster: Cluster, file: StoredFile, plan: Plan): Promise<number[]> {
  const key = randomBytes(16);
  const weights = freshCheckWeights(
    plan.members.map((m) => m.x),
    file.k,
    plan.dxs,
    FX
  );
  const tags: Uint8Array[][] = [];
  for (const [j, m] of plan.members.entries()) {
    const fresh = m.x === FX ? { fx: FX, chunks: [0, file.chunks - 1] } : {};
    const token = await mint(cluster, m.relay, file.fileId, 'renew_check', { ep: 1, w: weights[j]!.w, wo: weights[j]!.wo, dxs: plan.dxs, ...fresh });
    const a = (await client(m.relay, token).renewalStep(file.fileId, 1, 'check', { key: Buffer.from(key).toString('base64url') }, 64 * 1024)) as { tags: string[] };
    tags.push(a.tags.map((t) => new Uint8Array(Buffer.from(t, 'base64url'))));
  }
  return failedEquations(
    tags,
    new Uint8Array(key),
    file.bodyLengths.map((bodyLength, index) => ({ index, bodyLength }))
  );
}

/** The epoch-0 point at x: Lagrange over the first k holders' shares (the test sees everything; no relay does). */
function pointAt(file: StoredFile, shares: Uint8Array[], at: number): Uint8Array {
  const xs = file.xs.slice(0, file.k);
  const lambda = freshCoefficients(xs, at);
  const out = new Uint8Array(shares[0]!.length - HEADER_BYTES);
  shares.forEach((s, j) =>
    xorInto(
      out,
      s.subarray(HEADER_BYTES).map((v) => gfMul(v, lambda[j]!))
    )
  );
  return out;
}

describe.each<[StorageKind, number, number]>([
  ['disk', 2, 3],
  ['disk', 3, 5],
  ['s3', 2, 3]
])('renewal replacing a relay at a fresh x, %s relays, (%i,%i)', (storage, k, n) => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(n + 1, storage);
  }, 60_000);
  afterAll(async () => {
    await (cluster as Cluster | undefined)?.close(); // undefined when beforeAll failed
  });
  const holdersOf = (): Cluster => ({ ...cluster, relays: cluster.relays.slice(0, n) });

  it('any k of the new set rebuild byte-identical; the leaving relay\u2019s epoch-0 share never combines with epoch 1; the spare held no epoch-0 point', async () => {
    const size = storage === 's3' ? 70_000 : 1024 * 1024 + 7;
    const data = new Uint8Array(randomBytes(size));
    const file = await protectOnto(holdersOf(), data, k, 64 * 1024);
    const leaving = 1;
    const plan = planFor(cluster, file, leaving);
    await Promise.all(plan.dxs.map((dx) => dealFresh(cluster, file, plan, dx)));

    // The spare's inbox before prepare: one contribution per dealer, each chunk.
    const inbox = await Promise.all(
      plan.dxs.map(async (dx) => {
        const out: Uint8Array[] = [];
        for (let i = 0; i < file.chunks; i++) {
          const got = await plan.spare.store.get(contributionId(file.fileId, 1, dx), i);
          const parts: Buffer[] = [];
          for await (const p of got!.open() as AsyncIterable<Buffer>) parts.push(p);
          const bytes = Buffer.concat(parts);
          expect(parseHeader(bytes).x).toBe(FX);
          out.push(bytes.subarray(HEADER_BYTES));
        }
        return out;
      })
    );
    await prepareAll(cluster, file, plan);
    expect(await checkFresh(cluster, file, plan)).toEqual([]);

    // Any k of the new set rebuild the file at epoch 1.
    const positions = plan.members.map((_, j) => j);
    for (const set of subsets(positions, k)) {
      const got = await rebuild(file, (i) => Promise.all(set.map((j) => readShare(cluster, plan.members[j]!.relay, file.fileId, i, 1))));
      expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    }
    // The spare holds epoch 1 only (no epoch-0 point ever stored) and no contribution is left.
    expect(await plan.spare.store.list(epochId(file.fileId, 0))).toEqual([]);
    expect((await plan.spare.store.list(epochId(file.fileId, 1))).length).toBe(file.chunks);
    for (const dx of plan.dxs) expect(await plan.spare.store.list(contributionId(file.fileId, 1, dx))).toEqual([]);
    const spareShare = await readShare(cluster, plan.spare, file.fileId, 0, 1);
    expect(parseHeader(spareShare).x).toBe(FX);

    // The leaving relay's leftover epoch-0 share with k-1 shares of epoch 1: mixed epochs by header; with the
    // header relabelled, the record does not authenticate.
    const leftover = cluster.relays[leaving]!;
    const others = plan.members.slice(0, k - 1).map((m) => m.relay);
    const mixed = (relabel: boolean) =>
      codeOf(
        rebuild(file, async (i) => {
          const old = await readShare(cluster, leftover, file.fileId, i, 0);
          if (relabel) old.set(new Uint8Array([0, 0, 0, 1]), 28);
          return [old, ...(await Promise.all(others.map((r) => readShare(cluster, r, file.fileId, i, 1))))];
        })
      );
    expect(await mixed(false)).toBe('MIXED_EPOCH');
    expect(await mixed(true)).toBe('AUTH_FAILED');
    // The same for the spare's new share with k-1 leftover epoch-0 shares (the old set's, R's included).
    const oldOnes = [leaving, ...[...file.xs.keys()].filter((j) => j !== leaving)].slice(0, k - 1);
    const mixedNew = await codeOf(
      rebuild(file, async (i) => {
        const fresh = await readShare(cluster, plan.spare, file.fileId, i, 1);
        fresh.set(new Uint8Array([0, 0, 0, 0]), 28);
        return [fresh, ...(await Promise.all(oldOnes.map((j) => readShare(cluster, cluster.relays[j]!, file.fileId, i, 0))))];
      })
    );
    expect(mixedNew).toBe('AUTH_FAILED');

    // Secrecy of the spare's view, over the largest chunk (64 KiB of share bytes): the epoch-0 point at the
    // fresh x, which the test computes from k epoch-0 shares, is in none of the spare's inputs. Each input
    // minus its dealer's Lagrange term, the XOR of any k-1 of them minus theirs, and the new share minus the
    // epoch-0 point are each uniform: every input carries a dealer's fresh random point, and the spare only
    // ever holds the epoch-1 point. A negative control (a bare Lagrange term) is all zeros after the same.
    const i = 1;
    const olds = await Promise.all(plan.dxs.map((dx) => readShare(cluster, plan.members.find((m) => m.x === dx)!.relay, file.fileId, i, 0)));
    const lambda = freshCoefficients(plan.dxs, FX);
    const terms = olds.map((s, d) => s.subarray(HEADER_BYTES).map((v) => gfMul(v, lambda[d]!)));
    for (const set of [...plan.dxs.keys()].flatMap((_, size) => subsets([...plan.dxs.keys()], size + 1)).filter((s) => s.length < k)) {
      const acc = new Uint8Array(terms[0]!.length);
      for (const d of set) {
        xorInto(acc, inbox[d]![i]!);
        xorInto(acc, terms[d]!);
      }
      expect(chiSquare(acc)).toBeLessThan(CHI_BOUND);
    }
    const point = pointAt(file, await Promise.all(file.xs.slice(0, k).map((_, j) => readShare(cluster, cluster.relays[j]!, file.fileId, i, 0))), FX);
    const newBody = (await readShare(cluster, plan.spare, file.fileId, i, 1)).subarray(HEADER_BYTES);
    const sum = new Uint8Array(newBody.length);
    for (const part of inbox) xorInto(sum, part[i]!);
    expect(Buffer.from(sum).equals(Buffer.from(newBody))).toBe(true);
    const diff = new Uint8Array(point);
    xorInto(diff, newBody);
    expect(chiSquare(diff)).toBeLessThan(CHI_BOUND);
    // Combining k epoch-0 terms does give the epoch-0 point (the control: what the spare must never hold).
    const all = new Uint8Array(point.length);
    for (const t of terms) xorInto(all, t);
    expect(Buffer.from(all).equals(Buffer.from(point))).toBe(true);
    // Negative control of the detector: an input that were the bare Lagrange term would leave all zeros.
    const bare = new Uint8Array(terms[0]!);
    xorInto(bare, terms[0]!);
    expect(chiSquare(bare)).toBeGreaterThan(CHI_BOUND * 100);
  }, 180_000);

  it('a dealer that sends the spare a wrong contribution (its Lagrange term left out) fails the check before any switch', async () => {
    const data = new Uint8Array(randomBytes(3000));
    const file = await protectOnto(holdersOf(), data, k, 1000);
    const plan = planFor(cluster, file, 0);
    const xs = plan.members.map((m) => m.x);
    const cheaterX = plan.dxs[0]!;
    const cheater = plan.members.find((m) => m.x === cheaterX)!.relay;
    const engine = new ShamirEngine();
    for (let i = 0; i < file.chunks; i++) {
      const h = parseHeader(await readShare(cluster, cheater, file.fileId, i, 0));
      // An honest zero polynomial, but the fresh receiver's piece lacks lambda * y.
      const subShares = engine.split(new Uint8Array(h.bodyLength), k, xs);
      for (const [j, m] of plan.members.entries()) {
        const token = await mint(cluster, m.relay, file.fileId, 'renew_put', { ep: 1, dx: cheaterX, max: 1 << 20 });
        const body = new Uint8Array(HEADER_BYTES + h.bodyLength);
        writeHeader(body, { ...h, x: m.x, epoch: 1 });
        body.set(subShares[j]!, HEADER_BYTES);
        const pad = i === 0 ? Buffer.alloc(16 * (n - k + 1)).toString('base64url') : undefined;
        await client(m.relay, token).putContribution(file.fileId, 1, cheaterX, i, body, undefined, pad);
      }
    }
    for (const dx of plan.dxs.slice(1)) await dealFresh(cluster, file, plan, dx);
    await prepareAll(cluster, file, plan);
    expect((await checkFresh(cluster, file, plan)).length).toBeGreaterThan(0);
    // The old set still rebuilds at epoch 0 (nothing switched, nothing dropped).
    expect(Buffer.from(await rebuild(file, (i) => Promise.all(file.xs.slice(0, k).map((_, j) => readShare(cluster, cluster.relays[j]!, file.fileId, i, 0))))).equals(Buffer.from(data))).toBe(true);
    // And the spare's staged share really is wrong: the check is not crying wolf.
    const withSpare = [plan.spare, ...plan.members.filter((m) => m.x !== FX).map((m) => m.relay)].slice(0, k);
    expect(await codeOf(rebuild(file, (i) => Promise.all(withSpare.map((r) => readShare(cluster, r, file.fileId, i, 1)))))).not.toBe('ok');
  }, 60_000);

  it('scope: a fresh prepare on a relay that holds the epoch before is refused; a deal naming a fresh x outside the receivers, or a dealer outside dxs, is refused', async () => {
    const data = new Uint8Array(randomBytes(2000));
    const file = await protectOnto(holdersOf(), data, k, 1000);
    const holder = cluster.relays[0]!;
    const prep = await mint(cluster, holder, file.fileId, 'renew_prepare', { ep: 1, dxs: file.xs.slice(0, k), fx: file.xs[0], chunks: [0, file.chunks - 1] });
    expect(await codeOf(client(holder, prep).renewalStep(file.fileId, 1, 'prepare', {}, 1 << 20))).toBe('CONFLICT');
    const plan = planFor(cluster, file, 1);
    const dealer = plan.members.find((m) => m.x === plan.dxs[0])!.relay;
    const receivers = await Promise.all(
      plan.members.map(async (m) => ({
        x: m.x,
        id: m.relay.id,
        name: m.relay.name,
        url: m.relay.url,
        token: await mint(cluster, m.relay, file.fileId, 'renew_put', { ep: 1, dx: plan.dxs[0], max: 1 << 20 })
      }))
    );
    const deal = async (extra: Record<string, unknown>) =>
      codeOf(client(dealer, await mint(cluster, dealer, file.fileId, 'renew_deal', { ep: 1, rh: receiversHash(receivers), ...extra })).renewalStep(file.fileId, 1, 'deal', { receivers }, 1024));
    expect(await deal({ fx: 201, dxs: plan.dxs })).toBe('TOKEN_OUT_OF_SCOPE');
    expect(await deal({ fx: FX, dxs: plan.dxs.slice(1).concat([250]) })).toBe('TOKEN_OUT_OF_SCOPE');
    // Nothing was stored by the refused deals.
    for (const m of plan.members) expect(await m.relay.store.list(contributionId(file.fileId, 1, plan.dxs[0]!))).toEqual([]);
  }, 60_000);
});
