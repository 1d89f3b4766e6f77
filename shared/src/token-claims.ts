/**
 * Capability tokens the coordinator signs (EdDSA JWT) and relays verify. One token allows one operation
 * on one file at one relay, for a range of chunks, up to a byte limit per chunk, for a few minutes.
 *
 *   iss "kofn-coordinator", aud = relay id, sub = per-file pseudonym of the user (never the user id;
 *   only the coordinator can tell whose it is), jti = random id, iat/nbf/exp (seconds)
 *   fid: file id (32 hex), op: "put" | "get" | "delete" | "list" | "delete_file", chunks: [first, last]
 *   (inclusive), max: largest accepted share-chunk body in bytes (put only)
 *
 * "put", "get" and "delete" act on one chunk and are bounded by `chunks`. "list" and "delete_file" act
 * on the whole file, so a chunk range cannot bound them: each has its own op, and a chunk-scoped token
 * never reaches a whole-file route (issue #13 item 9: a one-chunk "delete" token used to delete the file).
 *
 * Proactive renewal (#15) adds the renew_* ops and the claims ep, dx, dxs, rh, w; a renewal that replaces a
 * relay by one at a fresh x adds fx and wo (renewal.md, "Replacing a relay at a fresh x"). shared/docs/renewal.md
 * says which op carries which and why.
 */
import { KofnError } from './errors.js';
import { isFileId } from './ids.js';

export const TOKEN_ISSUER = 'kofn-coordinator';
/** Relays refuse tokens that live longer than this (seconds), whatever their signature. */
export const MAX_TOKEN_LIFETIME_S = 15 * 60;
/** Largest Authorization header a relay reads. */
export const MAX_TOKEN_BYTES = 4096;

export const TOKEN_OPS = [
  'put',
  'get',
  'delete',
  'list',
  'delete_file',
  // proactive renewal (#15, shared/docs/renewal.md): each names the epoch it acts on in `ep`
  'renew_deal',
  'renew_put',
  'renew_prepare',
  'renew_check',
  'renew_drop',
  // repair by relays (issue #16, docs/repair.md; relay/src/repair.ts): coordinator -> helper (start),
  // helper -> helper (seed), receiver -> helper (send), coordinator -> receiver (collect)
  'repair_start',
  'repair_seed',
  'repair_send',
  'repair_collect'
] as const;
export type TokenOp = (typeof TOKEN_OPS)[number];
/** Ops on the whole file: their routes take no chunk index, so the token's chunk range does not apply. */
export const WHOLE_FILE_OPS: readonly TokenOp[] = ['list', 'delete_file', 'renew_deal', 'renew_prepare', 'renew_check', 'renew_drop', 'repair_start', 'repair_seed', 'repair_send', 'repair_collect'];
/** Renewal ops: a token for one of them must carry `ep`, and `renew_put` also `dx`. */
export const RENEWAL_OPS: readonly TokenOp[] = ['renew_deal', 'renew_put', 'renew_prepare', 'renew_check', 'renew_drop'];
export const MAX_EPOCH = 0xffffffff;

export interface CapabilityClaims {
  fid: string;
  op: TokenOp;
  chunks: [number, number];
  max?: number;
  /** Epoch the op reads or writes (renewal ops; optional on get/list, absent = 0). */
  ep?: number;
  /** renew_put: x of the dealer whose contribution this is. */
  dx?: number;
  /** renew_prepare, renew_drop: x of the dealers whose contributions make the epoch. */
  dxs?: number[];
  /** renew_deal: SHA-256 (base64url) of the receiver list the dealer may send to (renewal.md, "Roles"). */
  rh?: string;
  /** renew_check: this relay's parity-check weights, one per equation (renewal.md, "Why the check works"). */
  w?: number[];
  /**
   * Fresh x (renewal.md, "Replacing a relay at a fresh x"). renew_deal: the x of the receiver that holds no
   * share yet, whose contribution from this dealer carries the dealer's Lagrange term at fx (with `dxs`, the
   * dealers, as the interpolation points). renew_prepare, renew_check: this relay is that receiver, at fx;
   * it has no share of the epoch before.
   */
  fx?: number;
  /** renew_check with a fresh receiver: this relay's weights for its share of the epoch before (absent = `w`). */
  wo?: number[];
}

/** Chunk indexes in URLs: 0..2^32-2 written without sign, leading zeros or exponent. */
export const CHUNK_INDEX_PATTERN = /^(0|[1-9][0-9]{0,9})$/;
export const MAX_CHUNK_INDEX = 0xfffffffe;

export function parseChunkIndex(raw: string): number | undefined {
  if (!CHUNK_INDEX_PATTERN.test(raw)) return undefined;
  const n = Number(raw);
  return n <= MAX_CHUNK_INDEX ? n : undefined;
}

/** Checks the kofn-specific claims of an already signature-verified payload. */
export function parseCapabilityClaims(payload: Record<string, unknown>): CapabilityClaims {
  const bad = (what: string): KofnError => new KofnError('TOKEN_INVALID', `Token claim "${what}" is missing or malformed.`);
  const { fid, op, chunks, max } = payload;
  if (typeof fid !== 'string' || !isFileId(fid)) throw bad('fid');
  if (typeof op !== 'string' || !(TOKEN_OPS as readonly string[]).includes(op)) throw bad('op');
  if (!Array.isArray(chunks) || chunks.length !== 2 || !chunks.every((c) => Number.isInteger(c) && c >= 0 && c <= MAX_CHUNK_INDEX) || (chunks[0] as number) > (chunks[1] as number)) {
    throw bad('chunks');
  }
  if (max !== undefined && (!Number.isSafeInteger(max) || (max as number) < 0)) throw bad('max');
  const claims: CapabilityClaims = { fid, op: op as TokenOp, chunks: [chunks[0] as number, chunks[1] as number], ...(max !== undefined ? { max: max as number } : {}) };
  return { ...claims, ...parseRenewalClaims(payload, claims.op, bad) };
}

const isX = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 255;

/** The renewal claims (#15): each checked for shape here, and for presence by op, so a route never sees half a scope. */
function parseRenewalClaims(payload: Record<string, unknown>, op: TokenOp, bad: (what: string) => KofnError): Partial<CapabilityClaims> {
  const { ep, dx, dxs, rh, w, fx, wo } = payload;
  const out: Partial<CapabilityClaims> = {};
  const renewal = RENEWAL_OPS.includes(op);
  if (ep !== undefined || renewal) {
    if (!Number.isInteger(ep) || (ep as number) < 0 || (ep as number) > MAX_EPOCH) throw bad('ep');
    out.ep = ep as number;
  }
  if (dx !== undefined || op === 'renew_put') {
    if (!isX(dx)) throw bad('dx');
    out.dx = dx;
  }
  if (dxs !== undefined || op === 'renew_prepare' || op === 'renew_drop') {
    if (!Array.isArray(dxs) || dxs.length > 255 || !dxs.every(isX) || new Set(dxs).size !== dxs.length) throw bad('dxs');
    out.dxs = [...dxs];
  }
  if (rh !== undefined || op === 'renew_deal') {
    if (typeof rh !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(rh)) throw bad('rh');
    out.rh = rh;
  }
  if (w !== undefined || op === 'renew_check') {
    if (!Array.isArray(w) || w.length < 1 || w.length > 254 || !w.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) throw bad('w');
    out.w = [...(w as number[])];
  }
  if (fx !== undefined) {
    if (!isX(fx) || !['renew_deal', 'renew_prepare', 'renew_check'].includes(op)) throw bad('fx');
    out.fx = fx;
  }
  if (wo !== undefined) {
    if (op !== 'renew_check' || !Array.isArray(wo) || wo.length !== out.w?.length || !wo.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) throw bad('wo');
    out.wo = [...(wo as number[])];
  }
  return out;
}
