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
 */
import { KofnError } from './errors.js';

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
  // repair by relays (issue #16, docs/repair.md; relay/src/repair.ts): coordinator -> helper (start),
  // helper -> helper (seed), receiver -> helper (send), coordinator -> receiver (collect)
  'repair_start',
  'repair_seed',
  'repair_send',
  'repair_collect'
] as const;
export type TokenOp = (typeof TOKEN_OPS)[number];
/** Ops on the whole file: their routes take no chunk index, so the token's chunk range does not apply. */
export const WHOLE_FILE_OPS: readonly TokenOp[] = ['list', 'delete_file', 'repair_start', 'repair_seed', 'repair_send', 'repair_collect'];

export interface CapabilityClaims {
  fid: string;
  op: TokenOp;
  chunks: [number, number];
  max?: number;
}

export const FILE_ID_PATTERN = /^[0-9a-f]{32}$/;
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
  if (typeof fid !== 'string' || !FILE_ID_PATTERN.test(fid)) throw bad('fid');
  if (typeof op !== 'string' || !(TOKEN_OPS as readonly string[]).includes(op)) throw bad('op');
  if (
    !Array.isArray(chunks) ||
    chunks.length !== 2 ||
    !chunks.every((c) => Number.isInteger(c) && c >= 0 && c <= MAX_CHUNK_INDEX) ||
    (chunks[0] as number) > (chunks[1] as number)
  ) {
    throw bad('chunks');
  }
  if (max !== undefined && (!Number.isSafeInteger(max) || (max as number) < 0)) throw bad('max');
  return { fid, op: op as TokenOp, chunks: [chunks[0] as number, chunks[1] as number], ...(max !== undefined ? { max: max as number } : {}) };
}
