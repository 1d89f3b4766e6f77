/**
 * The coordinator's side of proactive share renewal (#15; protocol and limits in shared/docs/renewal.md):
 * a durable job per (file, epoch) that has k dealer relays deal, every relay stage, every relay tag its
 * update for the parity check, and only then flips the manifest's epoch in one row update. A failed check
 * aborts (drops the staged epoch), keeps epoch e, and records why in the owner's history. The old epoch is
 * dropped by a second job after a grace period longer than the token lifetime.
 *
 * The coordinator never sees a share, a sub-share or an update: it mints tokens, draws the check key after
 * every relay staged, and compares XORs of tags.
 *
 * Tree files (#21) whose groups are all on this deployment renew the same way with a two-level update
 * (renewal.md, "Tree files"): the dealers are k_g relays in each of K groups, the deal names every receiver's
 * group, and the check runs treeParityWeights' equations. A tree with a remote group is not renewed.
 */
import { and, count, desc, eq, inArray, isNull, like, lt, or, sql } from 'drizzle-orm';
import {
  HEADER_BYTES,
  KofnError,
  MAX_TOKEN_LIFETIME_S,
  RelayClient,
  chunkRanges,
  digestRoot,
  failedEquations,
  freshCheckWeights,
  parityWeights,
  shareChunkLength,
  treeParityWeights,
  dealReceiversBinding,
  type TreeManifest,
  type ChunkRange,
  type RelayRef,
  type RelayTimeouts,
  randomBytes
} from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, history, jobs, placements, relays } from './db/schema.js';
import { hasRemoteGroupIn, renewalSharing } from './tree-layouts.js';
import { lockFileAtEpoch, type Ctx } from './file-access.js';
import * as v from './validate.js';
import { record } from './history.js';
import { enqueue, holdLease, type JobHandler, type JobRow } from './jobs.js';
import { mintCapability, type SigningKey } from './signing-keys.js';
import { freshPlan, type Replacement } from './renewal-fresh.js';
import { RENEWAL_GRACE_MS } from './read-epoch.js';
import { clearProgress, forgetProgress, notedProgress, noteProgress, rangesFrom, resumeFrom } from './renewal-resume.js';

export const RENEW_JOB = 'renew-file';
export const DROP_JOB = 'renew-drop';
// The old epoch stays readable RENEWAL_GRACE_MS after the switch (read-epoch.ts mints tokens for it until then).
export { RENEWAL_GRACE_MS } from './read-epoch.js';
/** Coordinator tokens for renewal steps live this long (a 64 MiB-chunk file deals for minutes). */
const STEP_TTL_S = MAX_TOKEN_LIFETIME_S;

type FileRow = typeof files.$inferSelect;
export interface Holder {
  relay: RelayRef;
  x: number;
}

/** Asks for a renewal of `fileId` from its current epoch; a renewal already pending or running stays as it is. */
export async function enqueueRenewal(db: Db, fileId: string): Promise<void> {
  const [file] = await db.select().from(files).where(eq(files.id, fileId));
  if (file?.status !== 'available') throw new KofnError('NOT_FOUND', 'File not found.');
  await enqueue(db, RENEW_JOB, `${file.id}:${file.epoch}`, { fileId: file.id, epoch: file.epoch });
}

export async function holders(db: Db, fileId: string): Promise<Holder[]> {
  const rows = await db.select({ p: placements, r: relays }).from(placements).innerJoin(relays, eq(relays.id, placements.relayId)).where(eq(placements.fileId, fileId));
  // Manifest order (by x): the parity weights depend on it, and every step must use the same one.
  return rows.map(({ p, r }) => ({ relay: { id: r.id, name: r.name, url: r.url }, x: p.x })).sort((a, b) => a.x - b.x);
}

function mint(key: SigningKey, relayId: string, fileId: string, op: Parameters<typeof mintCapability>[1]['op'], extra: Partial<Parameters<typeof mintCapability>[1]> = {}): Promise<string> {
  return mintCapability(key, { relayId, userId: 'coordinator', fid: fileId, op, chunks: [0, 0], ttl: STEP_TTL_S, ...extra });
}

function client(h: Holder, token: () => Promise<string>, timeouts?: Partial<RelayTimeouts>): RelayClient {
  // One try per step: a deal replayed after a half delivery would only meet CONFLICT; the job retries whole.
  return new RelayClient(h.relay, { token, retry: { attempts: 1 }, ...(timeouts ? { timeouts } : {}) });
}

/**
 * A tree file's renewal (renewal.md, "Tree files"), by relay x: each relay's group (point X_g, k_g), its check
 * weights (treeParityWeights, whose relay order is the tree's, not the holders'), and the dealers' x's (the
 * first k_g relays of each of the first K groups: a minimal qualified set).
 */
interface TreePlan {
  K: number;
  groupOf: Map<number, { gx: number; gk: number }>;
  weights: Map<number, number[]>;
  dealerXs: Set<number>;
  /** Each relay x's place in the tree (groups in order): a deal lists a group's receivers together. */
  order: Map<number, number>;
}

/**
 * The plan of a tree whose groups are all local. Its relays' x's must be exactly the holders' (a placement
 * moves only at the same x, and the manifest tree follows under the file's lock): anything else is refused
 * before anything is dealt.
 */
function treePlan(tree: TreeManifest, all: Holder[]): TreePlan {
  const sharing = renewalSharing(tree);
  const xs = sharing.groups.flatMap((g) => g.xs);
  if (xs.length !== all.length || !all.every((h) => xs.includes(h.x))) throw new KofnError('CONFLICT', 'The file\u2019s manifest tree and its placements disagree; not renewing.');
  const rows = treeParityWeights(sharing);
  const groupOf = new Map<number, { gx: number; gk: number }>();
  const dealerXs = new Set<number>();
  sharing.groups.forEach((g, gi) =>
    g.xs.forEach((x, j) => {
      groupOf.set(x, { gx: g.x, gk: g.k });
      if (gi < sharing.k && j < g.k) dealerXs.add(x);
    })
  );
  return { K: sharing.k, groupOf, weights: new Map(xs.map((x, j) => [x, rows[j]!])), dealerXs, order: new Map(xs.map((x, j) => [x, j])) };
}

/**
 * The k dealers of a flat file's renewal to epoch e+1: the first k holders on a first try, and after each check
 * that failed for e+1 the next k in turn (renewal.md, "Naming the culprit"). A dishonest dealer fails the check
 * wherever it deals; with n > k the turns reach sets without it, so one bad relay no longer stops a file's
 * renewals for good. A run resumed after a crash counts the same failures, so it keeps its dealers.
 */
export function dealerSet<T>(holders: readonly T[], k: number, failedBefore: number): T[] {
  const n = holders.length;
  const start = (failedBefore * k) % Math.max(1, n);
  return Array.from({ length: Math.min(k, n) }, (_, i) => holders[(start + i) % n]!);
}

/** How a failed check's history entry begins: `failedChecks` counts the entries that begin so. */
const checkFailed = (next: number) => `Renewal to epoch ${next} failed its check;`;

/** Checks of renewals of `fileId` to epoch `next` that failed (their history entries; renewOnce writes them). */
async function failedChecks(db: Db, fileId: string, next: number): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(history)
    .where(and(eq(history.fileId, fileId), eq(history.operation, 'renew'), eq(history.result, 'error'), like(history.detail, `${checkFailed(next)}%`)));
  return row?.n ?? 0;
}

/** Which relays a failed parity equation of a tree points at: those weighing in it. */
function treeSuspects(all: Holder[], weights: number[][], failed: number[]): string[] {
  return all.filter((_, j) => failed.some((eq) => weights[j]![eq] !== 0)).map((h) => h.relay.name);
}

/** Which relays a failed parity equation points at (renewal.md, "Why the check works"). */
function suspects(all: Holder[], k: number, failed: number[]): string[] {
  const names = new Set<string>();
  for (const eq of failed) names.add(all[k - 1 + eq]!.relay.name);
  if (failed.length === all.length - k + 1) for (const h of all.slice(0, k - 1)) names.add(h.relay.name);
  return [...names];
}

export interface RenewalDeps {
  db: Db;
  key: SigningKey;
  timeouts?: Partial<RelayTimeouts>;
  now?: () => Date;
  /** Share bytes per deal, prepare and check request (default STEP_SHARE_BYTES; tests lower it). */
  stepBytes?: number;
  /** Called before each deal range (tests: which ranges a resumed renewal deals). */
  onDeal?: (range: ChunkRange) => void;
  /** Test hook: the x's of the relays chosen to deal this run. */
  onDealers?: (dxs: readonly number[]) => void;
  /** How long the old epoch stays after the switch (config.ts renewalGraceMs; default RENEWAL_GRACE_MS). */
  graceMs?: number;
}

/** Drops epoch `epoch` of a file on every holder (and the contributions of `dealers`); throws naming those not reached. */
async function dropEverywhere(deps: RenewalDeps, fileId: string, all: Holder[], epoch: number, dealers: number[]): Promise<void> {
  const missed: string[] = [];
  await Promise.all(
    all.map(async (h) => {
      try {
        await client(h, () => mint(deps.key, h.relay.id, fileId, 'renew_drop', { ep: epoch, dxs: dealers }), deps.timeouts).dropEpoch(fileId, epoch);
      } catch {
        missed.push(h.relay.name);
      }
    })
  );
  if (missed.length) throw new KofnError('RELAYS_OFFLINE', `Epoch ${epoch} not yet dropped on: ${missed.join(', ')}`);
}

/** Drops only the dealers' contributions to one range of chunks of `epoch` on every holder (a deal range cut midway). */
async function dropDealRange(deps: RenewalDeps, fileId: string, all: Holder[], epoch: number, dealers: number[], [from, to]: ChunkRange): Promise<void> {
  // A relay drops at most 65,536 chunks per request (relay/src/renewal.ts MAX_DROP_RANGE).
  for (let at = from; at <= to; at += 65_536) {
    const end = Math.min(to, at + 65_535);
    await Promise.all(all.map((h) => client(h, () => mint(deps.key, h.relay.id, fileId, 'renew_drop', { ep: epoch, dxs: dealers }), deps.timeouts).dropContributions(fileId, epoch, at, end)));
  }
}

async function deal(
  deps: RenewalDeps,
  file: FileRow,
  all: Holder[],
  dealer: Holder,
  next: number,
  [from, to]: ChunkRange,
  fresh: { fx: number; dxs: number[] } | undefined,
  signal: AbortSignal,
  tree?: TreePlan
): Promise<void> {
  const max = shareChunkLength(Math.max(file.chunkSize, 1340));
  // A tree deal lists the receivers in tree order, each group's together (the holders are in x order).
  const listed = tree ? [...all].sort((a, b) => tree.order.get(a.x)! - tree.order.get(b.x)!) : all;
  const receivers = await Promise.all(
    listed.map(async (h) => ({
      x: h.x,
      id: h.relay.id,
      name: h.relay.name,
      url: h.relay.url,
      token: await mint(deps.key, h.relay.id, file.id, 'renew_put', { ep: next, dx: dealer.x, chunks: [0, file.chunkCount], max }),
      // A tree's receivers name their group (relay/src/renewal.ts parseDealTree), bound by rh with K.
      ...tree?.groupOf.get(h.x)
    }))
  );
  const rh = await receiversHash(receivers, tree?.K);
  const token = () => mint(deps.key, dealer.relay.id, file.id, 'renew_deal', { ep: next, rh, ...fresh });
  await client(dealer, token, deps.timeouts).renewalStep(file.id, next, 'deal', { receivers, from, to, ...(tree ? { K: tree.K } : {}) }, 1024, signal);
}

/**
 * One deal range by every dealer. When one dealer fails (it or a receiver went away), the others are stopped
 * (their relays stop at the next chunk when the request closes) and waited for, so nothing of this attempt
 * lands after the retry dropped the range.
 */
async function dealRange(deps: RenewalDeps, file: FileRow, all: Holder[], dealers: Holder[], next: number, range: ChunkRange, fresh?: { fx: number; dxs: number[] }, tree?: TreePlan): Promise<void> {
  const stop = new AbortController();
  const results = await Promise.allSettled(
    dealers.map((d) =>
      deal(deps, file, all, d, next, range, fresh, stop.signal, tree).catch((err: unknown) => {
        stop.abort(err);
        throw err;
      })
    )
  );
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Each holder's prepare answers over every range, as one `{ chunks }` answer per holder (in chunk order). */
async function prepareInSteps(
  deps: RenewalDeps,
  fileId: string,
  all: Holder[],
  next: number,
  dxs: number[],
  ranges: ChunkRange[],
  keepLease: () => Promise<void>,
  freshClaims: (h: Holder) => { fx?: number; chunks?: [number, number] } = () => ({})
): Promise<unknown[]> {
  const merged: unknown[][] = all.map(() => []);
  for (const [from, to] of ranges) {
    const answers = await Promise.all(
      all.map((h) =>
        client(h, () => mint(deps.key, h.relay.id, fileId, 'renew_prepare', { ep: next, dxs, ...freshClaims(h) }), deps.timeouts).renewalStep(
          fileId,
          next,
          'prepare',
          { from, to },
          1024 + 160 * (to - from + 1)
        )
      )
    );
    answers.forEach((a, j) => {
      const list = (a as { chunks?: unknown } | null)?.chunks;
      if (!Array.isArray(list) || list.length !== to - from + 1) throw new KofnError('RENEWAL_INCOMPLETE', `Storage server ${all[j]!.relay.name} staged another number of chunks than the file has.`);
      merged[j]!.push(...(list as unknown[]));
    });
    await keepLease();
  }
  return merged.map((chunks) => ({ chunks }));
}

/**
 * One holder's check tags over every range: the relay adds each range to tags it keeps, and answers them,
 * masked, with the last range only (relay/src/renewal.ts PartialTags); earlier ranges answer `{ next }`.
 */
async function checkInSteps(
  deps: RenewalDeps,
  fileId: string,
  h: Holder,
  next: number,
  w: number[],
  dxs: number[],
  key: Uint8Array,
  ranges: ChunkRange[],
  extra: { wo?: number[]; fx?: number; chunks?: [number, number] } = {}
): Promise<unknown> {
  let answer: unknown;
  for (const [from, to] of ranges) {
    answer = await client(h, () => mint(deps.key, h.relay.id, fileId, 'renew_check', { ep: next, w, dxs, ...extra }), deps.timeouts).renewalStep(
      fileId,
      next,
      'check',
      { key: Buffer.from(key).toString('base64url'), from, to },
      64 * 1024
    );
    const last = to === ranges.at(-1)![1];
    if (!last && (answer as { next?: unknown } | null)?.next !== to + 1) {
      throw new KofnError('RELAY_BAD_ANSWER', `Storage server ${h.relay.name} sent a malformed check answer.`, { details: { relayId: h.relay.id, relayName: h.relay.name } });
    }
  }
  return answer;
}

/** The hash a deal token binds (relay/src/renewal.ts receiversHash): SHA-256 of shared's dealReceiversBinding. */
async function receiversHash(receivers: Array<{ x: number; url: string; gx?: number; gk?: number }>, K?: number): Promise<string> {
  const bytes = new TextEncoder().encode(dealReceiversBinding(receivers, K));
  return Buffer.from(await crypto.subtle.digest('SHA-256', bytes)).toString('base64url');
}

/** Body lengths of every share chunk of the file, from the prepare answers (all relays must agree). */
function bodyLengths(answers: unknown[], chunkCount: number): Array<{ index: number; bodyLength: number }> {
  const first = (answers[0] as { chunks?: Array<{ index?: unknown; size?: unknown }> } | null)?.chunks;
  if (!Array.isArray(first) || first.length !== chunkCount + 1) throw new KofnError('RENEWAL_INCOMPLETE', 'A relay staged another number of chunks than the file has.');
  return first.map((c, i) => {
    if (c.index !== i || !Number.isSafeInteger(c.size) || (c.size as number) < HEADER_BYTES) throw new KofnError('RELAY_BAD_ANSWER', 'A relay sent a malformed prepare answer.');
    return { index: i, bodyLength: (c.size as number) - HEADER_BYTES };
  });
}

/**
 * Each holder's digest root over the chunks it staged (the prepare answer lists every chunk's size and
 * SHA-256, as a relay's listing does): what the switch records as the new epoch's roots.
 */
async function stagedRoots(all: Holder[], answers: unknown[], chunkCount: number): Promise<string[]> {
  return Promise.all(
    answers.map((a, j) => {
      const list = (a as { chunks?: Array<{ index?: unknown; digest?: unknown } | null> } | null)?.chunks;
      const name = all[j]!.relay.name;
      if (!Array.isArray(list) || list.length !== chunkCount + 1) throw new KofnError('RENEWAL_INCOMPLETE', `Storage server ${name} staged another number of chunks than the file has.`);
      const digests = list.map((c, i) => {
        if (c?.index !== i || typeof c.digest !== 'string' || !/^[0-9a-f]{64}$/.test(c.digest)) throw new KofnError('RELAY_BAD_ANSWER', `Storage server ${name} sent a malformed prepare answer.`);
        return c.digest;
      });
      return digestRoot(digests);
    })
  );
}

/**
 * One renewal of a file from `epoch` to `epoch + 1`. Idempotent across crashes and retries: a file already
 * past `epoch` is done; otherwise any half-made epoch + 1 is dropped first and the renewal starts over.
 * Answers 'renewed', 'stale' (nothing to do) or 'rejected' (the check failed; epoch kept).
 */
export async function renewOnce(deps: RenewalDeps, fileId: string, epoch: number, job?: JobRow, replace?: Replacement): Promise<'renewed' | 'stale' | 'rejected'> {
  const { db } = deps;
  // Between steps the job's lease is extended; a worker that lost it (another replica took the job over
  // after the lease ran out) stops before its next step, and above all never switches the epoch.
  const keepLease = async (): Promise<void> => {
    if (job) await extendLease(db, job);
  };
  const [file] = await db.select().from(files).where(eq(files.id, fileId));
  if (file?.status !== 'available' || file.epoch !== epoch) return 'stale';
  // Issue #21: a tree file's relays hold sub-shares of group shares, renewed by groups (renewal.md, "Tree
  // files"). A group on another deployment holds relays this coordinator has no tokens for, and a tree's
  // update changes every group's share together: such a file is not renewed. Nor is a replacement at a
  // fresh x inside a tree (it would have to be dealt within one group; not built).
  if (file.layout && (hasRemoteGroupIn(file.layout) || replace)) return 'stale';
  const next = epoch + 1;
  const old = await holders(db, fileId);
  if (old.length !== file.n) throw new KofnError('RENEWAL_INCOMPLETE', 'The file has fewer placements than shares.');
  const tree = file.layout ? treePlan(file.layout, old) : undefined;
  // A replacement (renewal.md, "Replacing a relay at a fresh x"): the new set is the old one without the
  // leaving relay, with the fresh one at a fresh x; the dealers are k relays that keep their share.
  // A renewal the job began before a coordinator restart resumes from its noted deal range (renewal-resume.ts),
  // with the same dealers and the same fresh x.
  const noted = notedProgress(job, epoch);
  const plan = replace ? await freshPlan(db, file, old, { ...replace, ...(noted?.fx !== undefined ? { x: noted.fx } : {}) }) : undefined;
  if (plan === null) return 'stale';
  const all = plan?.all ?? old;
  // k dealers suffice (renewal.md step 1): at most k-1 relays are corrupt, so one dealer is honest. A tree's
  // are k_g relays in each of K groups: any coalition holding all of them could rebuild the file anyway.
  const dealers = tree
    ? all.filter((h) => tree.dealerXs.has(h.x))
    : dealerSet(
        all.filter((h) => h !== plan?.fresh),
        file.k,
        await failedChecks(db, fileId, next)
      );
  const dxs = dealers.map((d) => d.x);
  deps.onDealers?.(dxs);
  const fresh = plan ? { fx: plan.fresh.x, dxs } : undefined;
  // The fresh relay has no share of epoch e to list: its prepare and check walk the token's chunk range.
  const freshClaims = (h: Holder): { fx?: number; chunks?: [number, number] } => (h === plan?.fresh ? { fx: plan.fresh.x, chunks: [0, file.chunkCount] } : {});
  await keepLease();
  // Every step walks the file one range of chunks per request (#16, long silent steps: step-ranges.ts), so
  // no request is silent long enough for a relay's idle cut, and the lease is held between ranges.
  const ranges = chunkRanges(file.chunkCount, shareChunkLength(Math.max(file.chunkSize, 1340)), deps.stepBytes);
  const resumeAt = resumeFrom(noted, dxs, plan?.fresh.x, file.chunkCount);
  if (resumeAt === 0) await dropEverywhere(deps, fileId, all, next, dxs);
  // The range cut midway left some receivers with a contribution to some of its chunks: those go first.
  else if (resumeAt <= file.chunkCount) await dropDealRange(deps, fileId, all, next, dxs, [resumeAt, file.chunkCount]);
  for (const range of rangesFrom(ranges, resumeAt)) {
    deps.onDeal?.(range);
    await dealRange(deps, file, all, dealers, next, range, fresh, tree);
    if (job) await noteProgress(db, job, RENEWAL_LEASE_MS, { epoch, dxs, ...(plan ? { fx: plan.fresh.x } : {}), next: range[1] + 1 });
  }
  const prepared = await prepareInSteps(deps, fileId, all, next, dxs, ranges, keepLease, freshClaims);
  const chunks = bodyLengths(prepared, file.chunkCount);
  const roots = await stagedRoots(all, prepared, file.chunkCount);
  await keepLease();

  // The check consumes every relay's pads: from here on a failure starts over, never resumes (renewal-resume.ts).
  if (job) await clearProgress(db, job, RENEWAL_LEASE_MS);
  // renewal.md step 4: K is drawn only now, after every contribution is fixed.
  const key = randomBytes(16);
  const xs = all.map((h) => h.x);
  // With a fresh relay, the old-share weights fold its unknown update in through the dealers' shares.
  // A tree's weights are per relay x (the holders are in x order, the tree's equations in tree order).
  const weights = tree ? all.map((h) => tree.weights.get(h.x)!) : plan ? freshCheckWeights(xs, file.k, dxs, plan.fresh.x).map((w) => w.w) : parityWeights(xs, file.k);
  const oldWeights = plan ? freshCheckWeights(xs, file.k, dxs, plan.fresh.x).map((w) => w.wo) : undefined;
  const tags = await Promise.all(
    all.map(async (h, j) => {
      const extra = { ...freshClaims(h), ...(oldWeights && h !== plan?.fresh ? { wo: oldWeights[j]! } : {}) };
      const a = (await checkInSteps(deps, fileId, h, next, weights[j]!, dxs, key, ranges, extra)) as { tags?: unknown } | null;
      if (!Array.isArray(a?.tags) || a.tags.length !== weights[j]!.length || !a.tags.every((t) => typeof t === 'string' && /^[A-Za-z0-9_-]{22}$/.test(t))) {
        throw new KofnError('RELAY_BAD_ANSWER', `Storage server ${h.relay.name} sent malformed check tags.`, { details: { relayId: h.relay.id, relayName: h.relay.name } });
      }
      return (a.tags as string[]).map((t) => new Uint8Array(Buffer.from(t, 'base64url')));
    })
  );
  const failed = await failedEquations(tags, key, chunks);
  await keepLease();
  const now = deps.now?.() ?? new Date();
  if (failed.length) {
    await dropEverywhere(deps, fileId, all, next, dxs).catch(() => enqueue(db, DROP_JOB, `${fileId}:${next}`, { fileId, epoch: next, dxs }));
    await record(db, {
      userId: file.ownerId,
      operation: 'renew',
      fileId,
      fileName: file.name,
      result: 'error',
      detail: `${checkFailed(next)} epoch ${epoch} kept. Suspected: ${(tree ? treeSuspects(all, weights, failed) : suspects(all, file.k, failed)).join(', ')} (dealers: ${dealers.map((d) => d.relay.name).join(', ')}).`
    });
    return 'rejected';
  }
  // renewal.md step 5: the switch is this one row update, conditional on the epoch it renewed from and,
  // in the same transaction, on this worker still holding the job (row lock on the job first).
  const switched = await db.transaction(async (tx) => {
    if (job) {
      const [held] = await tx
        .select({ id: jobs.id })
        .from(jobs)
        .where(and(eq(jobs.id, job.id), eq(jobs.lockedBy, job.lockedBy ?? ''), eq(jobs.status, 'running')))
        .for('update');
      if (!held) throw new KofnError('CONFLICT', 'The renewal job was taken over by another worker; not switching.');
    }
    // The file row is locked first, as a relay move (relay-lifecycle.ts) does, so the two serialise: a share
    // moved to another relay while this renewal ran would have no staged epoch there.
    if (!(await lockFileAtEpoch(tx, fileId, epoch))) return [];
    const current = await tx.select({ relayId: placements.relayId, x: placements.x }).from(placements).where(eq(placements.fileId, fileId));
    if (current.length !== old.length || !current.every((p) => old.some((h) => h.relay.id === p.relayId && h.x === p.x))) return [];
    if (plan) {
      // The leaving relay's placement goes and the fresh relay's comes, in the switch itself: the manifest
      // names the new set exactly when it serves the epoch the new set holds.
      await tx.delete(placements).where(and(eq(placements.fileId, fileId), eq(placements.relayId, plan.leaving.relay.id)));
      await tx.insert(placements).values({ fileId, relayId: plan.fresh.relay.id, x: plan.fresh.x, digestRoot: null, rootEpoch: next });
      await plan.onSwitch(tx, now);
    }
    // Digest roots of the staged epoch, per relay (from each relay's prepare answer), recorded with the switch
    // itself: the check and repair compare a renewed share with them.
    for (const [j, h] of all.entries()) {
      await tx
        .update(placements)
        .set({ digestRoot: roots[j]!, rootEpoch: next })
        .where(and(eq(placements.fileId, fileId), eq(placements.relayId, h.relay.id)));
    }
    const flipped = await tx.update(files).set({ epoch: next, lastRenewalAt: now }).where(eq(files.id, fileId)).returning({ id: files.id });
    // The old epoch's drop is queued in the switch itself: queued after the commit, a coordinator that died
    // between the two left epoch e on every relay for good (the job taken over finds the file past e and
    // does nothing; coordinator-crash.test.ts, kills per renewal phase, the switch point "queue").
    await enqueue(tx, DROP_JOB, `${fileId}:${epoch}`, { fileId, epoch, dxs: [] }, new Date(now.getTime() + (deps.graceMs ?? RENEWAL_GRACE_MS)));
    return flipped;
  });
  if (switched.length === 0) {
    await dropEverywhere(deps, fileId, all, next, dxs).catch(() => undefined);
    return 'stale';
  }
  const moved = plan ? `; share moved from ${plan.leaving.relay.name} to ${plan.fresh.relay.name} at a fresh x` : '';
  await record(db, { userId: file.ownerId, operation: 'renew', fileId, fileName: file.name, result: 'ok', detail: `epoch ${next}${moved}` });
  return 'renewed';
}

/** The runner's lease (jobs.ts runOne) is 60 s; a renewal step may take longer, so each step renews it. */
export const RENEWAL_LEASE_MS = 10 * 60_000;

function extendLease(db: Db, job: JobRow): Promise<void> {
  return holdLease(db, job, RENEWAL_LEASE_MS);
}

export function renewalHandlers(deps: RenewalDeps): Record<string, JobHandler> {
  return {
    [RENEW_JOB]: async (payload, job) => {
      try {
        await renewOnce(deps, String(payload.fileId), Number(payload.epoch), job);
      } catch (err) {
        await forgetProgress(deps.db, job, RENEWAL_LEASE_MS, err);
        throw err;
      }
    },
    [DROP_JOB]: async (payload) => {
      const fileId = String(payload.fileId);
      const epoch = Number(payload.epoch);
      const [file] = await deps.db.select().from(files).where(eq(files.id, fileId));
      // Never drop the epoch the manifest serves (a stale job after a failed switch).
      if (file?.epoch === epoch && file.status === 'available') return;
      const dxs = Array.isArray(payload.dxs) ? payload.dxs.filter((d): d is number => Number.isInteger(d)) : [];
      await dropEverywhere(deps, fileId, await holders(deps.db, fileId), epoch, dxs);
    }
  };
}

// ---- scheduling and the API (#15: Qasmat's `checking`, `renewal`, `expiration`; "renew now") ----

/** "Renew now" by the owner of an available file: queues its renewal (a no-op when one is queued). */
export async function renewNow(ctx: Ctx, rawId: unknown): Promise<{ fileId: string; epoch: number; queued: true }> {
  const fileId = v.fileId(rawId);
  const [file] = await ctx.db
    .select()
    .from(files)
    .where(and(eq(files.id, fileId), eq(files.ownerId, ctx.user.id), eq(files.status, 'available')));
  if (!file) throw new KofnError('NOT_FOUND', 'File not found on the servers.');
  if (file.layout && hasRemoteGroupIn(file.layout))
    throw new KofnError(
      'LAYOUT_NOT_SUPPORTED',
      'Files with a group on another deployment are not renewed: this coordinator cannot reach that group\u2019s storage servers, and every group changes in a renewal.'
    );
  await enqueueRenewal(ctx.db, file.id);
  return { fileId: file.id, epoch: file.epoch, queued: true };
}

/**
 * Files renewal takes: flat files and trees without a remote group (jsonb containment: some group has kind
 * "remote"), as renewOnce decides, in SQL so the scan's limit counts only files it will renew.
 */
const renewableLayout = or(isNull(files.layout), sql`not (${files.layout} @> '{"groups":[{"kind":"remote"}]}'::jsonb)`);

/** "Renew all" by an administrator: queues every available file; answers how many. */
export async function renewAll(db: Db): Promise<{ queued: number }> {
  const rows = await db
    .select({ id: files.id })
    .from(files)
    .where(and(eq(files.status, 'available'), renewableLayout));
  for (const r of rows) await enqueueRenewal(db, r.id);
  return { queued: rows.length };
}

/**
 * The `checking` scan: queues renewals of files whose shares are older than `renewal`, oldest first, so
 * that at most `concurrency` renewals are queued or running at once (each moves every byte of a file
 * between relays; the job runner works them one at a time per coordinator replica).
 */
export async function scheduleRenewals(db: Db, renewalMs: number, concurrency: number, now = new Date()): Promise<number> {
  const [{ busy } = { busy: 0 }] = await db
    .select({ busy: sql<number>`count(*)::int` })
    .from(jobs)
    .where(and(eq(jobs.kind, RENEW_JOB), inArray(jobs.status, ['pending', 'running'])));
  const room = concurrency - busy;
  if (room <= 0) return 0;
  const cutoff = new Date(now.getTime() - renewalMs);
  const due = await db
    .select({ id: files.id, epoch: files.epoch })
    .from(files)
    .where(and(eq(files.status, 'available'), renewableLayout, or(lt(files.lastRenewalAt, cutoff), and(isNull(files.lastRenewalAt), lt(files.committedAt, cutoff)))))
    .orderBy(sql`coalesce(${files.lastRenewalAt}, ${files.committedAt})`)
    .limit(room);
  for (const f of due) await enqueue(db, RENEW_JOB, `${f.id}:${f.epoch}`, { fileId: f.id, epoch: f.epoch }, now);
  return due.length;
}

export interface RenewalState {
  state: 'in_progress' | 'failed';
  /** Why the last attempt failed (a relay named when the failure names one). */
  reason?: string;
}

/**
 * Renewal state per file for the file list: a queued or running job is "in progress" (with the last
 * attempt's error while a retry waits); a job given up, or a last renewal whose check failed (from the
 * history), is "failed" with the reason.
 */
export async function renewalStates(db: Db, list: ReadonlyArray<{ id: string; epoch: number }>): Promise<Map<string, RenewalState>> {
  const out = new Map<string, RenewalState>();
  // PostgreSQL and PGlite take at most 65,535 bind parameters per statement: a list of 100,000 files in
  // one IN list failed the whole file list. Batches keep each statement well under that.
  for (let i = 0; i < list.length; i += RENEWAL_STATE_BATCH) await renewalStatesOf(db, list.slice(i, i + RENEWAL_STATE_BATCH), out);
  return out;
}

const RENEWAL_STATE_BATCH = 10_000;

async function renewalStatesOf(db: Db, list: ReadonlyArray<{ id: string; epoch: number }>, out: Map<string, RenewalState>): Promise<void> {
  // One array parameter, and `operation = 'renew'` written out (not bound) so the planner matches
  // history_renew_file_idx's predicate even in a generic plan (migration 0018): without that index a page
  // of 500 files scanned the whole history (one row per file committed, at least), issue #18.
  const ids = sql.param(list.map((f) => f.id));
  const rejected = await db
    .select({ fileId: history.fileId, result: history.result, detail: history.detail })
    .from(history)
    .where(and(sql`${history.fileId} = any(${ids})`, sql`${history.operation} = 'renew'`))
    .orderBy(desc(history.createdAt), desc(history.id));
  const seen = new Set<string>();
  for (const h of rejected) {
    if (!h.fileId || seen.has(h.fileId)) continue;
    seen.add(h.fileId);
    if (h.result === 'error') out.set(h.fileId, { state: 'failed', reason: h.detail });
  }
  const rows = await db
    .select()
    .from(jobs)
    .where(and(eq(jobs.kind, RENEW_JOB), sql`${jobs.key} = any(${sql.param(list.map((f) => `${f.id}:${f.epoch}`))})`));
  for (const j of rows) {
    const fileId = j.key.slice(0, 32);
    if (j.status === 'pending' || j.status === 'running') out.set(fileId, { state: 'in_progress', ...(j.lastError ? { reason: j.lastError } : {}) });
    else if (j.status === 'failed') out.set(fileId, { state: 'failed', reason: j.lastError ?? 'unknown' });
  }
}
