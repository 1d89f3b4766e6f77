/**
 * The coordinator's side of repair by relays (issue #16; shared/docs/repair.md): a durable job per
 * (file, relay) rebuilds that relay's share at its own x from k helper relays whose shares the last check
 * confirmed good. The coordinator only mints tokens and passes public parameters; seeds go helper to
 * helper and masked terms helper to receiver. The result is verified before the share is marked ok: the
 * same polynomial at the same x gives the same bytes, so the rebuilt share's digest root must equal the
 * one recorded at commit.
 *
 * Automatic: a check that finds a share missing or damaged, or a scrub report, enqueues its repair when
 * at least k other shares are good. Jobs are idempotent: a repair runs from the start again after a crash
 * (a relay keeps repair sessions in memory only), and first deletes what the receiver holds of the file.
 */
import { randomBytes } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { DEFAULT_RELAY_TIMEOUTS, KofnError, digestRoot, type RelayTimeouts } from '@kofn/shared';
import type { Db } from './db/index.js';
import { files, placements, relays, shareHealth } from './db/schema.js';
import { deleteFileOn, listChunks } from './relay-client.js';
import { mintCapability, type SigningKey } from './signing-keys.js';
import { enqueue } from './jobs.js';
import { record } from './history.js';

const TOKEN_TTL_S = 15 * 60;
/** A whole file's repair runs in one collect call on the receiver; a 1 GB (3,5) file moves ~1 GB. */
const COLLECT_TIMEOUT_MS = 14 * 60_000;
const START_TIMEOUT_MS = 60_000;
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

async function post(url: string, token: string, body: unknown, timeoutMs: number): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs)
    });
  } catch {
    throw new KofnError('RELAY_TIMEOUT', `No answer from ${new URL(url).host} in time.`);
  }
  const text = await res.text();
  if (text.length > MAX_ANSWER_BYTES) throw new KofnError('RELAY_ANSWER_TOO_LARGE', 'A storage server\u2019s repair answer is too large.');
  let parsed: unknown = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: reported below with the status */
  }
  const obj = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  if (res.status !== 200) {
    const e = obj.error as { code?: unknown } | undefined;
    throw new KofnError('RELAY_BAD_ANSWER', `Repair step refused by ${new URL(url).host} (${typeof e?.code === 'string' ? e.code : `HTTP ${res.status}`}).`);
  }
  return obj;
}

/** For `repair_seed`, `sender` is the helper position allowed to send (the relay checks chunks = [sender, sender]). */
const capability = (key: SigningKey, relayId: string, fid: string, op: 'repair_start' | 'repair_seed' | 'repair_send' | 'repair_collect', sender = 0) =>
  mintCapability(key, { relayId, userId: 'coordinator', fid, op, chunks: [sender, sender], ttl: TOKEN_TTL_S });

/** Enqueues the repair of `relayId`'s share of a file (idempotent per file and relay). */
export function enqueueRepair(db: Db, fileId: string, relayId: string, now = new Date()): Promise<void> {
  return enqueue(db, 'repair-share', `${fileId}:${relayId}`, { fileId, relayId }, now);
}

/**
 * Rebuilds one share onto its relay. Throws (the job retries with backoff) while fewer than k good
 * helpers are known or a step fails; returns quietly when there is nothing to do (file gone, placement
 * moved, share already good).
 */
export async function repairShare(db: Db, key: SigningKey, fileId: string, relayId: string, timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS, now = new Date()): Promise<'repaired' | 'nothing'> {
  const [file] = await db.select().from(files).where(and(eq(files.id, fileId), eq(files.status, 'available')));
  if (!file) return 'nothing';
  // Helpers read and the receiver writes epoch-0 chunks; a renewed file's shares live under its epoch's
  // storage id (#15), which repair does not handle yet: refuse plainly rather than write a wrong epoch.
  if (file.epoch > 0) throw new KofnError('CONFLICT', `Repair of a renewed file (epoch ${file.epoch}) is not supported yet.`);
  const where = (await db.select({ p: placements, relay: relays }).from(placements).innerJoin(relays, eq(relays.id, placements.relayId)).where(eq(placements.fileId, fileId))).map((r) => ({ ...r.p, relay: r.relay }));
  const target = where.find((p) => p.relayId === relayId);
  if (!target || target.digestRoot === null) return 'nothing';
  const health = new Map((await db.select().from(shareHealth).where(eq(shareHealth.fileId, fileId))).map((h) => [h.relayId, h]));
  const good = (id: string) => {
    const h = health.get(id);
    return h !== undefined && h.state === 'ok' && !(h.scrubDamage && h.scrubDamage.length > 0);
  };
  if (good(relayId)) return 'nothing';
  const helpers = where.filter((p) => p.relayId !== relayId && good(p.relayId)).slice(0, file.k);
  if (helpers.length < file.k) throw new KofnError('NOT_ENOUGH_SHARES', `Only ${helpers.length} of the ${file.k} good shares a repair needs are known.`);

  const rid = randomBytes(16).toString('hex');
  const xs = helpers.map((h) => h.x);
  // What the receiver holds of the file goes first: a damaged chunk would otherwise refuse the rebuilt one.
  await deleteFileOn(key, { id: target.relayId, url: target.relay.url, name: target.relay.name }, fileId, timeouts);
  for (let j = 0; j < helpers.length; j++) {
    const peers = await Promise.all(helpers.slice(j + 1).map(async (p) => ({ url: p.relay.url, token: await capability(key, p.relayId, fileId, 'repair_seed', j) })));
    await post(`${helpers[j]!.relay.url}/v1/repair/${fileId}/start`, await capability(key, helpers[j]!.relayId, fileId, 'repair_start'), {
      rid, xs, self: j, xNew: target.x, epoch: file.epoch, chunkCount: file.chunkCount, peers
    }, START_TIMEOUT_MS);
  }
  const sources = await Promise.all(helpers.map(async (p) => ({ url: p.relay.url, token: await capability(key, p.relayId, fileId, 'repair_send') })));
  await post(`${target.relay.url}/v1/repair/${fileId}/collect`, await capability(key, target.relayId, fileId, 'repair_collect'), {
    rid, x: target.x, k: file.k, epoch: file.epoch, chunkCount: file.chunkCount, helpers: sources
  }, COLLECT_TIMEOUT_MS);

  // Verified from the receiver's own listing, not from what its collect answer said.
  const listed = await listChunks(key, { id: target.relayId, url: target.relay.url, name: target.relay.name }, fileId, file.chunkCount, timeouts);
  const byIndex = new Map(listed.map((c) => [c.index, c.digest]));
  if (byIndex.size !== file.chunkCount + 1) throw new KofnError('COMMIT_MISMATCH', `The repaired share on ${target.relay.name} is incomplete.`);
  const root = await digestRoot(Array.from({ length: file.chunkCount + 1 }, (_, i) => byIndex.get(i) ?? ''));
  if (root !== target.digestRoot) throw new KofnError('COMMIT_MISMATCH', `The repaired share on ${target.relay.name} differs from the committed one.`);
  await db
    .insert(shareHealth)
    .values({ fileId, relayId, state: 'ok', detail: 'repaired', scrubDamage: null, checkedAt: now })
    .onConflictDoUpdate({ target: [shareHealth.fileId, shareHealth.relayId], set: { state: 'ok', detail: 'repaired', scrubDamage: null, checkedAt: now } });
  await record(db, {
    userId: file.ownerId,
    operation: 'repair',
    fileId,
    fileName: file.name,
    result: 'ok',
    detail: `share on ${target.relay.name} rebuilt by ${helpers.map((h) => h.relay.name).join(', ')}`
  });
  return 'repaired';
}

export function repairJobHandlers(db: Db, key: SigningKey, timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS) {
  return {
    'repair-share': async (payload: Record<string, unknown>) => {
      await repairShare(db, key, String(payload.fileId), String(payload.relayId), timeouts);
    }
  };
}
