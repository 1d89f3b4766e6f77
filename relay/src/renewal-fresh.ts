/**
 * The relay's part of replacing a relay by one at a fresh x inside a renewal (shared/docs/renewal.md,
 * "Replacing a relay at a fresh x"; the weights in shared/src/renewal-fresh.ts):
 *
 * - a **dealer** whose deal token names a fresh receiver (claim `fx`, with the dealers' x in `dxs`) adds its
 *   Lagrange term lambda_d(fx) * y_d to that receiver's sub-share, so the one contribution it sends there is
 *   lambda_d(fx) * y_d + d_d(fx): uniform to the receiver (d_d(fx) is a point of a fresh random polynomial),
 *   and the receiver's k contributions sum to its epoch e+1 share, never to an epoch-e point;
 * - the **fresh receiver** (prepare and check tokens with `fx`) holds no share of epoch e: it stages the XOR
 *   of the k contributions, and tags its new share alone;
 * - every **other relay** tags w * new + wo * old (claim `wo`), which for a relay that is not a dealer is
 *   w * (new + old), the plain check's weighted update.
 */
import { HEADER_BYTES, KofnError, freshCoefficients, mulConstant, xorInto, type ShareHeader } from '@kofn/shared';
import type { ChunkInfo, ChunkStore } from './storage/types.js';

type ReadChunk = (store: ChunkStore, id: string, index: number) => Promise<{ bytes: Buffer; header: ShareHeader } | undefined>;
type CommitBytes = (store: ChunkStore, id: string, index: number, bytes: Uint8Array) => Promise<ChunkInfo>;

/**
 * The dealer's Lagrange coefficient at the fresh x and the receiver position it goes to, or undefined for a
 * plain renewal. The fresh x must be one of the receivers, the dealer one of `dxs` (the interpolation points),
 * and the fresh x none of the dealers' (freshCoefficients refuses it).
 */
export function freshDealing(cap: { fx?: number; dxs?: number[] }, receiverXs: readonly number[], ownX: number): { at: number; lambda: number } | undefined {
  if (cap.fx === undefined) return undefined;
  const dxs = cap.dxs ?? [];
  const at = receiverXs.indexOf(cap.fx);
  const self = dxs.indexOf(ownX);
  if (at < 0 || self < 0) throw new KofnError('TOKEN_OUT_OF_SCOPE', 'The capability token does not allow this operation.');
  const lambda = freshCoefficients(dxs, cap.fx)[self]!;
  return { at, lambda };
}

/** subShare ^= lambda * ownBody, in place (the kernel multiply: no memory address depends on a share byte). */
export function addLagrangeTerm(subShare: Uint8Array, ownBody: Uint8Array, lambda: number): void {
  const term = mulConstant(ownBody, lambda);
  for (let b = 0; b < subShare.length; b++) subShare[b]! ^= term[b]!;
  term.fill(0);
}

/**
 * Prepare on the fresh receiver, one chunk: the XOR of every dealer's contribution (each must name this x,
 * the chunk, the epoch, and agree on k, flags and length), committed at the epoch's id; then the contributions
 * go. Idempotent like stageChunk: a chunk already staged stands.
 */
export async function stageFreshChunk(
  io: { readChunk: ReadChunk; commitBytes: CommitBytes },
  store: ChunkStore,
  ids: { target: string; contribution: (dealer: number) => string },
  at: { index: number; epoch: number; fx: number },
  dealers: readonly number[]
): Promise<ChunkInfo> {
  const done = await store.head(ids.target, at.index);
  if (done) {
    for (const d of dealers) await store.delete(ids.contribution(d), at.index);
    return done;
  }
  let out: Buffer | undefined;
  let first: ShareHeader | undefined;
  for (const d of dealers) {
    const part = await io.readChunk(store, ids.contribution(d), at.index).catch((err: unknown) => {
      throw new KofnError('RENEWAL_BAD_CONTRIBUTION', `The contribution of the dealer at x=${d} to chunk ${at.index} is malformed.`, { cause: err });
    });
    if (!part) throw new KofnError('RENEWAL_INCOMPLETE', `The dealer at x=${d} has not delivered chunk ${at.index}.`);
    const p = part.header;
    first ??= p;
    if (p.x !== at.fx || p.index !== at.index || p.epoch !== at.epoch || p.k !== first.k || p.flags !== first.flags || p.bodyLength !== first.bodyLength) {
      throw new KofnError('RENEWAL_BAD_CONTRIBUTION', `The contribution of the dealer at x=${d} to chunk ${at.index} does not fit this share.`);
    }
    // The first contribution's buffer is this call's own: the others are summed into it, not into a copy.
    if (!out) out = part.bytes;
    else {
      xorInto(out.subarray(HEADER_BYTES), part.bytes.subarray(HEADER_BYTES));
      part.bytes.fill(0);
    }
  }
  if (!out) throw new KofnError('BAD_REQUEST', 'Renewal needs at least two dealers (k >= 2).');
  const info = await io.commitBytes(store, ids.target, at.index, out);
  out.fill(0);
  for (const d of dealers) await store.delete(ids.contribution(d), at.index);
  return info;
}

/**
 * The vector a relay tags for one parity equation: w * (new + old) in the plain check (one multiply), or
 * w * new + wo * old when a fresh receiver's update enters the equation through the dealers' old shares;
 * the fresh receiver itself (no old share) tags w * new.
 */
export function checkVector(oldBody: Uint8Array | undefined, newBody: Uint8Array, w: number, wo: number): Uint8Array {
  if (!oldBody) return mulConstant(newBody, w);
  if (oldBody.length !== newBody.length) throw new KofnError('RENEWAL_INCOMPLETE', 'A staged chunk has another length.');
  if (w === wo) {
    const update = new Uint8Array(newBody.length);
    for (let b = 0; b < update.length; b++) update[b] = oldBody[b]! ^ newBody[b]!;
    const out = mulConstant(update, w);
    update.fill(0);
    return out;
  }
  const out = mulConstant(newBody, w);
  const o = mulConstant(oldBody, wo);
  for (let b = 0; b < out.length; b++) out[b]! ^= o[b]!;
  o.fill(0);
  return out;
}
