/**
 * Proactive renewal of a tree file (issue #21 with #15; shared/docs/renewal.md, "Tree files") over real
 * relays on loopback: K = 2 over groups A (2 of 3), B (2 of 2), C (2 of 3). Every dealer draws D of degree
 * K-1 with D(0) = 0 over the group points and splits each D(X_g) again inside its group, so both the
 * sub-shares and the group shares change; the check runs treeParityWeights' equations. A dishonest dealer
 * (D(0) != 0, or a group polynomial of degree k_g) is caught; malformed tree deals are refused before
 * anything is dealt; a contribution for another group is refused at prepare.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEADER_BYTES, combine, hasErrorCode, parseHeader, split, treeEquationCount, writeHeader, type TreeManifest } from '@kofn/shared';
import { MAX_DEAL_BODY_BYTES, receiversHash, zeroSumPads, type Receiver } from './renewal.js';
import {
  client,
  dealTree,
  dealPrepareCheckTree,
  checkTree,
  mint,
  protectOnto,
  readShare,
  rebuild,
  startCluster,
  treeDealers,
  treeReceiversFor,
  treeSharingOf,
  type Cluster,
  type StoredFile
} from './testing/renewal.js';

// Group A (x 40) relays 0-2, B (x 90) relays 3-4, C (x 140) relays 5-7; relay x's distinct over the file.
const GROUPS = [
  { x: 40, k: 2, at: [0, 1, 2] },
  { x: 90, k: 2, at: [3, 4] },
  { x: 140, k: 2, at: [5, 6, 7] }
];
const treeOf = (ids: string[]): TreeManifest => ({
  kind: 'tree',
  k: 2,
  groups: GROUPS.map((g) => ({ kind: 'local', x: g.x, k: g.k, relays: g.at.map((j) => ({ relayId: ids[j]!, x: 11 + 10 * j })) }))
});

let cluster: Cluster;
let file: StoredFile;
let tree: TreeManifest;
let data: Uint8Array;

beforeAll(async () => {
  cluster = await startCluster(8);
  tree = treeOf(cluster.relays.map((r) => r.id));
  data = new Uint8Array(randomBytes(3 * 64 * 1024 + 9));
  file = await protectOnto(cluster, data, 2, 64 * 1024, 'shamir', tree);
}, 60_000);

afterAll(async () => {
  await (cluster as Cluster | undefined)?.close();
});

const sharesAt = (relays: number[], epoch: number) => (i: number) => Promise.all(relays.map((j) => readShare(cluster, cluster.relays[j]!, file.fileId, i, epoch)));
const bodyOf = (chunk: Uint8Array) => chunk.subarray(HEADER_BYTES);
/** Group share S_g of chunk i rebuilt from the sub-shares of `relays` (all of one group) at `epochs[j]`. */
async function groupShare(relays: number[], epochs: number[], i: number): Promise<Buffer> {
  const subs = await Promise.all(relays.map((j, m) => readShare(cluster, cluster.relays[j]!, file.fileId, i, epochs[m]!)));
  return Buffer.from(combine(subs.map((s, m) => ({ x: file.xs[relays[m]!]!, y: bodyOf(s) }))));
}
const codeOf = async (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (err: unknown) => (hasErrorCode(err) ? err.code : String(err))
  );
/** Drops epoch `epoch` (and the contributions of `dxs`) on every relay: an aborted renewal. */
async function dropEverywhere(epoch: number, dxs: number[]): Promise<void> {
  for (const r of cluster.relays) await client(r, await mint(cluster, r, file.fileId, 'renew_drop', { ep: epoch, dxs })).dropEpoch(file.fileId, epoch);
}
/** Every choice of K = 2 groups, each read from its first or its last k_g relays. */
const readSets = (): number[][] => {
  const out: number[][] = [];
  for (let a = 0; a < GROUPS.length; a++)
    for (let b = a + 1; b < GROUPS.length; b++)
      for (const end of [false, true]) {
        const pick = (g: (typeof GROUPS)[number]) => (end ? g.at.slice(-g.k) : g.at.slice(0, g.k));
        out.push([...pick(GROUPS[a]!), ...pick(GROUPS[b]!)]);
      }
  return out;
};

describe('renewal of a tree file (disk relays, K = 2 over (2,3), (2,2), (2,3))', () => {
  it('renewed twice: each epoch rebuilds byte-identical from any K groups, every sub-share and every group share changed, epochs never mix', async () => {
    for (const epoch of [0, 1]) {
      const next = epoch + 1;
      expect(await dealPrepareCheckTree(cluster, file, tree, epoch)).toEqual([]);
      for (const set of readSets()) expect(Buffer.from(await rebuild(file, sharesAt(set, next))).equals(Buffer.from(data)), `epoch ${next} from ${set.join(',')}`).toBe(true);
      for (let i = 0; i < file.chunks; i++) {
        for (const [j, r] of cluster.relays.entries()) {
          const before = await readShare(cluster, r, file.fileId, i, epoch);
          const after = await readShare(cluster, r, file.fileId, i, next);
          // Same header but the epoch (the relay's own x, k_g, group point and K), other bytes.
          expect({ ...parseHeader(after), epoch }, `relay ${j} chunk ${i}`).toEqual(parseHeader(before));
          expect(Buffer.from(bodyOf(after)).equals(Buffer.from(bodyOf(before))), `relay ${j} chunk ${i}`).toBe(false);
        }
        for (const g of GROUPS) {
          const [a, b] = [g.at[0]!, g.at.at(-1)!];
          const old = await groupShare([a, b], [epoch, epoch], i);
          const now = await groupShare([a, b], [next, next], i);
          // Any k_g of the group give the same S_g at one epoch; S_g itself changed (the top level was re-randomised).
          expect((await groupShare(g.at.slice(0, 2), [next, next], i)).equals(now)).toBe(true);
          expect(old.equals(now), `group ${g.x} chunk ${i}`).toBe(false);
          // An old sub-share with a new one is neither group share.
          const mixed = await groupShare([a, b], [epoch, next], i);
          expect(mixed.equals(old) || mixed.equals(now), `group ${g.x} chunk ${i}`).toBe(false);
        }
      }
      // Old and new sub-shares never rebuild the file together: inside a group, or one group per epoch.
      const mixedInGroup = (i: number) => Promise.all([0, 1, 3, 4].map((j, m) => readShare(cluster, cluster.relays[j]!, file.fileId, i, m === 0 ? epoch : next)));
      expect(await codeOf(rebuild(file, mixedInGroup))).not.toBe('ok');
      const mixedGroups = (i: number) => Promise.all([0, 1, 3, 4].map((j, m) => readShare(cluster, cluster.relays[j]!, file.fileId, i, m < 2 ? epoch : next)));
      expect(await codeOf(rebuild(file, mixedGroups))).not.toBe('ok');
    }
  }, 180_000);

  /**
   * The test plays dealer `dealer` (one of the dealers) itself: an update with top secret `top` (zero when
   * honest) and, in group `highGroup`, a group polynomial of degree k_g. Each receiver gets its own header.
   */
  async function badDeal(dealer: number, next: number, top: number, highGroup?: number): Promise<void> {
    const sharing = treeSharingOf(tree);
    const pads = zeroSumPads(cluster.relays.length, treeEquationCount(sharing));
    const receivers = await treeReceiversFor(cluster, file, tree, next, dealer);
    for (let i = 0; i < file.chunks; i++) {
      const h = parseHeader(await readShare(cluster, cluster.relays[dealer]!, file.fileId, i, next - 1));
      const secret = new Uint8Array(h.bodyLength);
      secret[0] = top;
      const groupShares = split(
        secret,
        tree.k,
        GROUPS.map((g) => g.x)
      );
      const subs = GROUPS.flatMap((g, gi) =>
        split(
          groupShares[gi]!,
          g.k + (gi === highGroup ? 1 : 0),
          g.at.map((j) => file.xs[j]!)
        )
      );
      for (const [j, r] of cluster.relays.entries()) {
        const g = GROUPS.find((gr) => gr.at.includes(j))!;
        const body = new Uint8Array(HEADER_BYTES + h.bodyLength);
        writeHeader(body, { ...h, x: file.xs[j]!, k: g.k, group: { x: g.x, k: tree.k }, epoch: next });
        body.set(subs[j]!, HEADER_BYTES);
        const put = () =>
          r.app.request(`/v1/files/${file.fileId}/epochs/${next}/from/${file.xs[dealer]}/chunks/${i}`, {
            method: 'PUT',
            headers: { Authorization: `Bearer ${receivers[j]!.token}`, ...(i === 0 ? { 'x-kofn-check-pad': pads[j]!.toString('base64url') } : {}) },
            body
          });
        expect((await put()).status).toBe(201);
        // A retry of the same contribution (same bytes, same pads) is a no-op, as for a flat file.
        if (i === 0) expect((await put()).status).toBe(200);
      }
    }
  }

  it.each([
    ['D(0) != 0 (the update would change the group shares\u2019 secret)', 5, undefined, false],
    ['group A\u2019s polynomial of degree k_g (D(0) = 0 still)', 0, 0, false],
    // The control: the same hand-made dealing, honest, passes (so the two above fail for their fault alone).
    ['playing honestly (control)', 0, undefined, true]
  ])(
    'a dealer made by the test, %s: the check verdict; the renewal is aborted and the file stays whole at its epoch',
    async (_what, top, high, honest) => {
      const epoch = 2;
      const next = 3;
      const dealers = treeDealers(tree);
      const dxs = dealers.map((d) => file.xs[d]!);
      await badDeal(dealers[0]!, next, top, high);
      for (const d of dealers.slice(1)) await dealTree(cluster, file, tree, next, d);
      for (const r of cluster.relays) await client(r, await mint(cluster, r, file.fileId, 'renew_prepare', { ep: next, dxs })).renewalStep(file.fileId, next, 'prepare', {}, 1 << 20);
      const failed = await checkTree(cluster, file, tree, next, dxs);
      if (honest) expect(failed).toEqual([]);
      else expect(failed.length).toBeGreaterThan(0);
      await dropEverywhere(next, dxs);
      expect(Buffer.from(await rebuild(file, sharesAt([0, 1, 5, 6], epoch))).equals(Buffer.from(data))).toBe(true);
    },
    120_000
  );

  it('prepare refuses a contribution dealt for another group point (RENEWAL_BAD_CONTRIBUTION), and nothing is staged', async () => {
    const next = 3;
    const dealer = 0;
    const target = 3; // group B (x 90)
    const [receiver] = (await treeReceiversFor(cluster, file, tree, next, dealer)).slice(target, target + 1);
    for (let i = 0; i < file.chunks; i++) {
      const h = parseHeader(await readShare(cluster, cluster.relays[target]!, file.fileId, i, next - 1));
      const body = new Uint8Array(HEADER_BYTES + h.bodyLength);
      // Group A's point on relay 3's contribution: a sub-share of another group's polynomial.
      writeHeader(body, { ...h, group: { x: 40, k: 2 }, epoch: next });
      const res = await cluster.relays[target]!.app.request(`/v1/files/${file.fileId}/epochs/${next}/from/${file.xs[dealer]}/chunks/${i}`, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${receiver!.token}` },
        body
      });
      expect(res.status).toBe(201);
    }
    const r = cluster.relays[target]!;
    const dxs = [file.xs[dealer]!, file.xs[1]!];
    expect(await codeOf(client(r, await mint(cluster, r, file.fileId, 'renew_prepare', { ep: next, dxs })).renewalStep(file.fileId, next, 'prepare', {}, 1 << 20))).toBe('RENEWAL_BAD_CONTRIBUTION');
    const token = await mint(cluster, r, file.fileId, 'get', { ep: next });
    expect((await r.app.request(`/v1/files/${file.fileId}/chunks/0`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(404);
    await dropEverywhere(next, dxs);
  }, 60_000);
});

describe('tree deal bad input: refused before anything is dealt', () => {
  const next = 3;
  const dealer = 0;
  /** POSTs a deal to relay `dealer` whose token binds `rh` (default: the body's own receivers and K). */
  async function postDeal(body: { receivers: Receiver[]; K?: unknown } | string, claims: Record<string, unknown> = {}): Promise<[number, string | undefined]> {
    const r = cluster.relays[dealer]!;
    const rh = typeof body === 'string' ? receiversHash([]) : receiversHash(body.receivers, typeof body.K === 'number' ? body.K : undefined);
    const token = await mint(cluster, r, file.fileId, 'renew_deal', { ep: next, rh, ...claims });
    const res = await r.app.request(`/v1/files/${file.fileId}/epochs/${next}/deal`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: typeof body === 'string' ? body : JSON.stringify(body)
    });
    const answer = (await res.json()) as { error?: { code?: string } };
    return [res.status, answer.error?.code];
  }
  const receivers = () => treeReceiversFor(cluster, file, tree, next, dealer);
  /** Nothing of epoch `next` reached any relay. */
  async function nothingDealt(): Promise<void> {
    for (const r of cluster.relays) {
      const token = await mint(cluster, r, file.fileId, 'renew_prepare', { ep: next, dxs: [file.xs[0]!, file.xs[1]!] });
      expect(await codeOf(client(r, token).renewalStep(file.fileId, next, 'prepare', { from: 0, to: 0 }, 1 << 20))).toBe('RENEWAL_INCOMPLETE');
    }
  }

  it.each<[string, (rs: Receiver[]) => { receivers: Receiver[]; K?: unknown }]>([
    ['grouped and ungrouped receivers mixed', (rs) => ({ receivers: rs.map((r, j) => (j === 7 ? { ...r, gx: undefined, gk: undefined } : r)), K: 2 })],
    ['a receiver with a group point and no k_g', (rs) => ({ receivers: rs.map((r, j) => (j === 7 ? { ...r, gk: undefined } : r)), K: 2 })],
    ['a group with k_g above its receivers', (rs) => ({ receivers: rs.map((r) => (r.gx === 90 ? { ...r, gk: 3 } : r)), K: 2 })],
    ['two thresholds in one group', (rs) => ({ receivers: rs.map((r, j) => (j === 2 ? { ...r, gk: 3 } : r)), K: 2 })],
    ['K above the number of groups', (rs) => ({ receivers: rs, K: 4 })],
    ['K missing', (rs) => ({ receivers: rs })],
    ['K not an integer', (rs) => ({ receivers: rs, K: 2.5 })],
    ['K = 1', (rs) => ({ receivers: rs, K: 1 })],
    ['K with ungrouped receivers', (rs) => ({ receivers: rs.map((r) => ({ ...r, gx: undefined, gk: undefined })), K: 2 })],
    ['a group point listed twice (group A again after C)', (rs) => ({ receivers: [...rs.slice(1), rs[0]!], K: 2 })],
    ['a group point 0', (rs) => ({ receivers: rs.map((r) => (r.gx === 40 ? { ...r, gx: 0 } : r)), K: 2 })],
    ['a group point 256', (rs) => ({ receivers: rs.map((r) => (r.gx === 40 ? { ...r, gx: 256 } : r)), K: 2 })],
    ['k_g = 1', (rs) => ({ receivers: rs.map((r) => (r.gx === 40 ? { ...r, gk: 1 } : r)), K: 2 })],
    ['a group point as text', (rs) => ({ receivers: rs.map((r) => (r.gx === 40 ? ({ ...r, gx: '40' } as unknown as Receiver) : r)), K: 2 })],
    ['another K than the dealer\u2019s share (3 of 3 groups)', (rs) => ({ receivers: rs, K: 3 })],
    ['the dealer in another group than its share\u2019s', (rs) => ({ receivers: rs.map((r) => (r.gx === 40 ? { ...r, gx: 41 } : r)), K: 2 })],
    ['the dealer with another k_g than its share\u2019s', (rs) => ({ receivers: rs.map((r) => (r.gx === 40 ? { ...r, gk: 3 } : r)), K: 2 })],
    ['a flat deal (no groups) over a tree share', (rs) => ({ receivers: rs.map((r) => ({ ...r, gx: undefined, gk: undefined })) })]
  ])(
    '%s -> 400 BAD_REQUEST',
    async (_what, make) => {
      // JSON drops the undefined fields: the receivers go out as a coordinator without them would send them.
      const body = make(await receivers());
      expect(await postDeal(JSON.parse(JSON.stringify(body)) as typeof body)).toEqual([400, 'BAD_REQUEST']);
      await nothingDealt();
    },
    30_000
  );

  it('a replacement at a fresh x (claim fx) in a tree deal -> 400 BAD_REQUEST', async () => {
    expect(await postDeal({ receivers: await receivers(), K: 2 }, { fx: 200, dxs: [file.xs[0]!, file.xs[1]!] })).toEqual([400, 'BAD_REQUEST']);
    await nothingDealt();
  });

  it('out of scope: a token binding the flat receiver list, another K or other groups -> 403 TOKEN_OUT_OF_SCOPE', async () => {
    const rs = await receivers();
    const flat = rs.map(({ gx: _gx, gk: _gk, ...r }) => r);
    const regrouped = rs.map((r) => (r.gx === 140 ? { ...r, gk: 3 } : r));
    for (const rh of [receiversHash(flat), receiversHash(rs, 3), receiversHash(rs), receiversHash(regrouped, 2)]) {
      expect(await postDeal({ receivers: rs, K: 2 }, { rh })).toEqual([403, 'TOKEN_OUT_OF_SCOPE']);
    }
    // The flat hash is the one it always was: a tree's fields never change a flat list's hash.
    expect(receiversHash(flat)).toBe(receiversHash(flat.map((r) => ({ x: r.x, url: r.url }))));
    await nothingDealt();
  });

  it('unauthorised: no token, or a deal token minted for another relay -> refused, nothing dealt', async () => {
    const rs = await receivers();
    const r = cluster.relays[dealer]!;
    const body = JSON.stringify({ receivers: rs, K: 2 });
    const noToken = await r.app.request(`/v1/files/${file.fileId}/epochs/${next}/deal`, { method: 'POST', body });
    expect([noToken.status, ((await noToken.json()) as { error?: { code?: string } }).error?.code]).toEqual([401, 'TOKEN_MISSING']);
    const other = await mint(cluster, cluster.relays[1]!, file.fileId, 'renew_deal', { ep: next, rh: receiversHash(rs, 2) });
    const wrongAudience = await r.app.request(`/v1/files/${file.fileId}/epochs/${next}/deal`, { method: 'POST', headers: { Authorization: `Bearer ${other}` }, body });
    expect([wrongAudience.status, ((await wrongAudience.json()) as { error?: { code?: string } }).error?.code]).toEqual([403, 'TOKEN_WRONG_AUDIENCE']);
    await nothingDealt();
  });

  it('oversized -> 413 PAYLOAD_TOO_LARGE; not JSON -> 400', async () => {
    expect(await postDeal(JSON.stringify({ receivers: [], K: 2, pad: 'x'.repeat(MAX_DEAL_BODY_BYTES) }))).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    expect(await postDeal('{"receivers": [')).toEqual([400, 'BAD_REQUEST']);
    await nothingDealt();
  });

  it('a valid tree deal after all that still renews the file', async () => {
    expect(await dealPrepareCheckTree(cluster, file, tree, 2)).toEqual([]);
    for (const set of readSets()) expect(Buffer.from(await rebuild(file, sharesAt(set, 3))).equals(Buffer.from(data))).toBe(true);
  }, 120_000);
});
