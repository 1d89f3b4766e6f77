/**
 * The coordinator's side of repair by relays (issue #16; shared/docs/repair.md): a durable job per
 * (file, relay) rebuilds that relay's share at its own x from k helper relays whose shares the last check
 * confirmed good. The coordinator only mints tokens and passes public parameters; seeds go helper to
 * helper and masked terms helper to receiver. The result is verified before the share is marked ok: the
 * same polynomial at the same x gives the same bytes, so the rebuilt share's digest root must equal the
 * one recorded at commit. The coordinator holds no MAC key, so it cannot authenticate the result: the share
 * is then marked as awaiting the owner's browser (repair-verification.ts).
 *
 * Automatic: a check that finds a share missing or damaged, or a scrub report, enqueues its repair when
 * at least k other shares are good. Jobs are idempotent: a repair runs from the start again after a crash
 * (a relay keeps repair sessions in memory only), and first deletes what the receiver holds of the file.
 */
import { and, eq } from 'drizzle-orm';
import { DEFAULT_RELAY_TIMEOUTS, KofnError, RelayClient, chunkRanges, digestRoot, hasErrorCode, randomHex, readBounded, shareChunkLength, type RelayTimeouts } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, placements, relays, shareHealth } from './db/schema.js';
import { sameSharing, shareThreshold } from './tree-layouts.js';
import { listChunks } from './relay-client.js';
import { mintCapability, type SigningKey } from './signing-keys.js';
import { enqueue, holdLease, type JobRow } from './jobs.js';
import { record } from './history.js';
import { lockFileAtEpoch } from './file-access.js';
import { awaitOwnerCheck } from './repair-verification.js';

const TOKEN_TTL_S = 15 * 60;
/**
 * One collect request carries one range of chunks (step-ranges.ts: 16 MiB of share bytes, or one larger
 * chunk), so it answers long before a relay's 60 s idle cut; this bounds a stalled one (a 64 MiB chunk
 * from k helpers over a slow link).
 */
const COLLECT_STEP_TIMEOUT_MS = 5 * 60_000;
const START_TIMEOUT_MS = 60_000;
/** A repair job holds its lease this long past each collect step (jobs.ts runOne leases 60 s). */
export const REPAIR_LEASE_MS = 10 * 60_000;
/** A start answer is `{ rid, seeds }`: a few dozen bytes. */
const START_ANSWER_BYTES = 4096;
/** A collect answer is `{ fileId, x, from, digests }`: one 64-hex digest (67 bytes in JSON) per chunk of its range. */
const collectAnswerBytes = (chunkCount: number) => 4096 + 80 * (chunkCount + 1);

/**
 * POSTs one repair step to a relay and reads its JSON answer, bounded in size (counted as bytes arrive,
 * whatever Content-Length says) and in time (the signal covers the body too): a helper or receiver relay
 * may be hostile, and an unbounded read let it fill the coordinator's memory (issue #13 item 6).
 */
async function post(relay: { id: string; name: string; url: string }, path: string, token: string, body: unknown, timeoutMs: number, maxBytes: number): Promise<Record<string, unknown>> {
  const details = (status: number) => ({ details: { relayId: relay.id, relayName: relay.name, status } });
  const timedOut = () => new KofnError('RELAY_TIMEOUT', `Storage server ${relay.name} did not answer a repair step in time.`, details(0));
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(`${relay.url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      redirect: 'error',
      signal
    });
  } catch {
    throw timedOut();
  }
  const tooLarge = () => new KofnError('RELAY_ANSWER_TOO_LARGE', `Storage server ${relay.name} sent more than the ${maxBytes} bytes a repair answer takes.`, details(res.status));
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  let bytes: Uint8Array;
  try {
    bytes = await readBounded(res.body, maxBytes, tooLarge);
  } catch (e) {
    if (hasErrorCode(e, 'RELAY_ANSWER_TOO_LARGE')) throw e;
    throw signal.aborted ? timedOut() : new KofnError('RELAY_BAD_ANSWER', `Storage server ${relay.name} broke off its repair answer.`, details(res.status));
  }
  let parsed: unknown = {};
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    /* not JSON: reported below with the status */
  }
  const obj = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  if (res.status !== 200) {
    const e = obj.error as { code?: unknown } | undefined;
    throw new KofnError('RELAY_BAD_ANSWER', `Repair step refused by ${relay.name} (${typeof e?.code === 'string' ? e.code : `HTTP ${res.status}`}).`, details(res.status));
  }
  return obj;
}

/**
 * Repair tokens name the epoch the repair reads and writes (claim `ep`, #15): a helper serves terms and a
 * receiver stores chunks only at that epoch. For `repair_seed`, `sender` is the helper position allowed to
 * send (the relay checks chunks = [sender, sender]).
 */
const capability = (key: SigningKey, relayId: string, fid: string, op: 'repair_start' | 'repair_seed' | 'repair_send' | 'repair_collect', epoch: number, sender = 0) =>
  mintCapability(key, { relayId, userId: 'coordinator', fid, op, chunks: [sender, sender], ttl: TOKEN_TTL_S, ep: epoch });

/** Enqueues the repair of `relayId`'s share of a file (idempotent per file and relay). */
export function enqueueRepair(db: Db, fileId: string, relayId: string, now = new Date()): Promise<void> {
  return enqueue(db, 'repair-share', `${fileId}:${relayId}`, { fileId, relayId }, now);
}

type RelayRow = typeof relays.$inferSelect;
export type FileRow = typeof files.$inferSelect;
export type PlacementWithRelay = typeof placements.$inferSelect & { relay: RelayRow };

export const refOf = (r: RelayRow) => ({ id: r.id, url: r.url, name: r.name });

export async function placementsWithRelays(db: Db, fileId: string): Promise<PlacementWithRelay[]> {
  return (await db.select({ p: placements, relay: relays }).from(placements).innerJoin(relays, eq(relays.id, placements.relayId)).where(eq(placements.fileId, fileId))).map((r) => ({
    ...r.p,
    relay: r.relay
  }));
}

/** Relay ids whose share of the file the last check (and scrub) confirmed good. */
export async function goodShares(db: Db, fileId: string): Promise<Set<string>> {
  const rows = await db.select().from(shareHealth).where(eq(shareHealth.fileId, fileId));
  return new Set(rows.filter((h) => h.state === 'ok' && !(h.scrubDamage && h.scrubDamage.length > 0) && h.authFailedAt === null).map((h) => h.relayId));
}

/** How a rebuild or copy walks the file: one collect request per range of chunks (shared/src/step-ranges.ts). */
export interface StepOptions {
  /** Share bytes per collect request (default STEP_SHARE_BYTES; tests lower it). */
  stepBytes?: number;
  /**
   * The first chunk to collect: a repair resumed after a coordinator crash continues where its last stored
   * range ended (0: from the start, after dropping what the receiver held). The final verification covers
   * every chunk either way.
   */
  startAt?: number;
  /** After each range is stored, with the first chunk not yet stored: the job holds its lease and notes it. */
  afterStep?: (next: number) => Promise<void>;
}

/** Posts `collect` once per range of the file's chunks from `startAt` on, calling `afterStep` after each. */
async function collectInSteps(key: SigningKey, file: FileRow, receiver: RelayRow, body: Record<string, unknown>, steps: StepOptions): Promise<void> {
  const startAt = steps.startAt ?? 0;
  for (const [first, to] of chunkRanges(file.chunkCount, shareChunkLength(file.chunkSize), steps.stepBytes)) {
    if (to < startAt) continue;
    const from = Math.max(first, startAt);
    // A fresh token per step: a large file's repair outlasts one token's 15 minutes.
    const token = await capability(key, receiver.id, file.id, 'repair_collect', file.epoch);
    await post(refOf(receiver), `/v1/repair/${file.id}/collect`, token, { ...body, from, to }, COLLECT_STEP_TIMEOUT_MS, collectAnswerBytes(to - from + 1));
    await steps.afterStep?.(to + 1);
  }
}

/** Drops what the receiver holds of the file's epoch, unless a resumed repair keeps the chunks it stored. */
async function dropUnlessResumed(key: SigningKey, file: FileRow, receiver: RelayRow, steps: StepOptions, timeouts: RelayTimeouts): Promise<void> {
  if ((steps.startAt ?? 0) > 0) return;
  const dropToken = () => mintCapability(key, { relayId: receiver.id, userId: 'coordinator', fid: file.id, op: 'renew_drop', chunks: [0, 0], ttl: 60, ep: file.epoch, dxs: [] });
  await new RelayClient(refOf(receiver), { token: dropToken, timeouts }).dropEpoch(file.id, file.epoch);
}

/**
 * Rebuilds the share at `x` of a file at its current epoch onto `receiver` (its own relay after a loss, or
 * another relay that takes the placement over: relay-lifecycle.ts) from the k `helpers`, then lists what
 * the receiver stored and requires `expectedRoot` (the root recorded for that x at this epoch: the same
 * polynomial at the same x gives the same bytes). What the receiver held of the epoch goes first: a damaged
 * chunk would otherwise refuse the rebuilt one.
 */
export async function rebuildShareOn(
  key: SigningKey,
  file: FileRow,
  receiver: RelayRow,
  x: number,
  helpers: PlacementWithRelay[],
  expectedRoot: string,
  timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS,
  steps: StepOptions = {}
): Promise<void> {
  const fileId = file.id;
  const epoch = file.epoch;
  // A tree file's helpers are relays of one group, at that group's threshold k_g (docs/multilevel.md).
  const k = shareThreshold(file, helpers[0]?.groupX ?? null) ?? file.k;
  if (helpers.some((h) => !sameSharing(file, h, helpers[0]!))) throw new KofnError('INVALID_ARGUMENT', 'Repair helpers must hold shares of one sharing (one group of a tree file).');
  if (helpers.length !== k) throw new KofnError('NOT_ENOUGH_SHARES', `Only ${helpers.length} of the ${k} good shares a repair needs are known.`);
  const rid = randomHex(16);
  const xs = helpers.map((h) => h.x);
  await dropUnlessResumed(key, file, receiver, steps, timeouts);
  for (let j = 0; j < helpers.length; j++) {
    const peers = await Promise.all(helpers.slice(j + 1).map(async (p) => ({ url: p.relay.url, token: await capability(key, p.relayId, fileId, 'repair_seed', epoch, j) })));
    await post(
      refOf(helpers[j]!.relay),
      `/v1/repair/${fileId}/start`,
      await capability(key, helpers[j]!.relayId, fileId, 'repair_start', epoch),
      {
        rid,
        xs,
        self: j,
        xNew: x,
        epoch,
        chunkCount: file.chunkCount,
        peers
      },
      START_TIMEOUT_MS,
      START_ANSWER_BYTES
    );
  }
  const sources = await Promise.all(helpers.map(async (p) => ({ url: p.relay.url, token: await capability(key, p.relayId, fileId, 'repair_send', epoch) })));
  await collectInSteps(key, file, receiver, { rid, x, k, epoch, chunkCount: file.chunkCount, helpers: sources }, steps);

  await verifyRebuilt(key, file, receiver, expectedRoot, timeouts);
}

/** Verified from the receiver's own listing at the file's epoch, not from what its collect answer said. */
async function verifyRebuilt(key: SigningKey, file: FileRow, receiver: RelayRow, expectedRoot: string, timeouts: RelayTimeouts): Promise<void> {
  const listed = await listChunks(key, refOf(receiver), file.id, file.chunkCount, timeouts, file.epoch);
  const byIndex = new Map(listed.map((c) => [c.index, c.digest]));
  if (byIndex.size !== file.chunkCount + 1) throw new KofnError('COMMIT_MISMATCH', `The repaired share on ${receiver.name} is incomplete.`);
  const root = await digestRoot(Array.from({ length: file.chunkCount + 1 }, (_, i) => byIndex.get(i) ?? ''));
  if (root !== expectedRoot) throw new KofnError('COMMIT_MISMATCH', `The repaired share on ${receiver.name} differs from the committed one.`);
}

/**
 * Copies the share at `source.x` from the relay that holds it (a draining one) onto `receiver`, relay to
 * relay: the receiver reads it with a `get` token for the file's epoch and stores it as is (relay/src/
 * repair.ts, collect with `source`); then it is verified against `expectedRoot` like a rebuilt share. For
 * moves that cannot find k good helpers besides the source, above all files with n = k: the receiver gets
 * exactly the share the source held, so no party learns anything it did not hold.
 */
export async function copyShareOn(
  key: SigningKey,
  file: FileRow,
  receiver: RelayRow,
  source: PlacementWithRelay,
  expectedRoot: string,
  timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS,
  steps: StepOptions = {}
): Promise<void> {
  const fileId = file.id;
  const epoch = file.epoch;
  await dropUnlessResumed(key, file, receiver, steps, timeouts);
  const read = await mintCapability(key, { relayId: source.relayId, userId: 'coordinator', fid: fileId, op: 'get', chunks: [0, file.chunkCount], ttl: TOKEN_TTL_S, ep: epoch });
  // The receiver checks each copied chunk's header: a tree file's sub-share carries its group's k_g.
  const k = shareThreshold(file, source.groupX) ?? file.k;
  await collectInSteps(key, file, receiver, { rid: randomHex(16), x: source.x, k, epoch, chunkCount: file.chunkCount, source: { url: source.relay.url, token: read } }, steps);
  await verifyRebuilt(key, file, receiver, expectedRoot, timeouts);
}

/**
 * Rebuilds one share onto its relay. Throws (the job retries with backoff) while fewer than k good
 * helpers are known or a step fails; returns quietly when there is nothing to do (file gone, placement
 * moved, share already good).
 */
export async function repairShare(
  db: Db,
  key: SigningKey,
  fileId: string,
  relayId: string,
  timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS,
  now = new Date(),
  job?: JobRow,
  stepBytes?: number
): Promise<'repaired' | 'nothing'> {
  const [file] = await db
    .select()
    .from(files)
    .where(and(eq(files.id, fileId), eq(files.status, 'available')));
  if (!file) return 'nothing';
  const where = await placementsWithRelays(db, fileId);
  const target = where.find((p) => p.relayId === relayId);
  if (!target) return 'nothing';
  // Issue #21: a tree file's share is a sub-share within its group, rebuilt by k_g relays of that group only
  // (from other groups' relays it would store garbage: docs/multilevel.md).
  const k = shareThreshold(file, target.groupX);
  if (k === undefined) return 'nothing';
  if (target.digestRoot === null) return 'nothing';
  // A draining or lost relay's shares move elsewhere (relay-lifecycle.ts); they are not rebuilt in place.
  if (target.relay.lifecycle !== 'active') return 'nothing';
  // Helpers read and the receiver writes the file's current epoch; the result is verified against the
  // root recorded for that epoch (at commit, or by the renewal's switch). A file renewed before roots were
  // kept per epoch has none to verify against: refuse plainly rather than store an unverified share.
  if (target.rootEpoch !== file.epoch) throw new KofnError('CONFLICT', `No digest is recorded for epoch ${file.epoch} of this file: its shares cannot be verified after a repair.`);
  const good = await goodShares(db, fileId);
  if (good.has(relayId)) return 'nothing';
  const helpers = where.filter((p) => p.relayId !== relayId && good.has(p.relayId) && sameSharing(file, p, target)).slice(0, k);
  if (helpers.length < k) throw new KofnError('NOT_ENOUGH_SHARES', `Only ${helpers.length} of the ${k} good shares a repair needs are known.`);

  // Resumable (#16, long silent steps): after each stored range the job notes the next chunk in its payload
  // with its lease; a run after a coordinator crash continues from there at the same epoch and x (the same
  // polynomial at the same x gives the same bytes, whichever k helpers). Any failure forgets the progress,
  // so a retry starts over from a dropped receiver.
  const payload = { fileId, relayId };
  const noted = (job?.payload as { resume?: { epoch?: unknown; x?: unknown; next?: unknown } } | undefined)?.resume;
  const startAt = noted?.epoch === file.epoch && noted.x === target.x && Number.isSafeInteger(noted.next) ? Math.min(Number(noted.next), file.chunkCount) : 0;
  try {
    await rebuildShareOn(key, file, target.relay, target.x, helpers, target.digestRoot, timeouts, {
      startAt,
      ...(stepBytes ? { stepBytes } : {}),
      ...(job ? { afterStep: (next: number) => holdLease(db, job, REPAIR_LEASE_MS, { ...payload, resume: { epoch: file.epoch, x: target.x, next } }) } : {})
    });
  } catch (err) {
    if (job && !hasErrorCode(err, 'CONFLICT')) await holdLease(db, job, REPAIR_LEASE_MS, payload).catch(() => undefined);
    throw err;
  }
  // Marked ok only if the file is still at the epoch repaired (a renewal's switch meanwhile leaves this share
  // without the new epoch: the next check finds it missing and repairs it at that epoch).
  const marked = await db.transaction(async (tx) => {
    if (!(await lockFileAtEpoch(tx, fileId, file.epoch))) return false;
    await tx
      .insert(shareHealth)
      .values({ fileId, relayId, state: 'ok', detail: 'repaired', scrubDamage: null, authFailedAt: null, checkedAt: now })
      .onConflictDoUpdate({ target: [shareHealth.fileId, shareHealth.relayId], set: { state: 'ok', detail: 'repaired', scrubDamage: null, authFailedAt: null, checkedAt: now } });
    // Digest-verified only: the owner's browser authenticates it (repair-verification.ts).
    await awaitOwnerCheck(tx, fileId, relayId, file.epoch, now);
    return true;
  });
  if (!marked) throw new KofnError('CONFLICT', 'The file was renewed during its repair; the repair runs again at the new epoch.');
  await record(db, {
    userId: file.ownerId,
    operation: 'repair',
    fileId,
    fileName: file.name,
    result: 'ok',
    detail: `share on ${target.relay.name} rebuilt at epoch ${file.epoch} by ${helpers.map((h) => h.relay.name).join(', ')}`
  });
  return 'repaired';
}

export function repairJobHandlers(db: Db, key: SigningKey, timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS) {
  return {
    'repair-share': async (payload: Record<string, unknown>, job: JobRow) => {
      await repairShare(db, key, String(payload.fileId), String(payload.relayId), timeouts, new Date(), job);
    }
  };
}
