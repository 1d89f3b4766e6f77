/**
 * Many files' chunk lists in one request (issue #14): `POST /v1/files/lists` with `{ "tokens": [...] }`.
 * The coordinator verifies a batch commit of 1,000 small files by listing each at each relay; one request
 * per listing made that its largest cost. Each token is an ordinary `list` token for one file, verified and
 * scoped exactly as `GET /v1/files/:fileId/chunks` does it, so a batch reaches no file a token does not
 * name. The answer has one item per token, in order: `{ fileId, chunks }` or `{ error: { code, message } }`
 * (a bad token fails its item, not the others). Bounds: MAX_LIST_BATCH tokens, MAX_LIST_BATCH_BODY bytes.
 *
 * Cost (issue #24): the relay's request slots (`KOFN_RELAY_MAX_REQUESTS`, app.ts) count work in progress,
 * and a batch is charged by its listings, not as one request: each listing it runs at once holds a slot,
 * as the same listing sent alone would. It came in on one slot and takes more for its other listings at
 * once (up to LIST_PARALLEL), only as many as are free; a slot taken is given back when its listings are
 * done. So no mix of single and batch listings runs more listings at once than the relay has slots, and a
 * batch of MAX_LIST_BATCH still goes through on a busy relay (one slot, one listing at a time).
 */
import type { Context, Hono } from 'hono';
import { KofnError, MAX_LIST_BATCH, MAX_LIST_BATCH_BODY, MAX_TOKEN_BYTES, LIST_BATCH_PATH } from '@kofn/shared';
import type { ChunkStore } from './storage/types.js';
import { requireScope, verifyCapability, type KeySource } from './capability.js';
import { epochId, readJsonBody } from './renewal.js';
import { toHttpError } from './http-error.js';
import type { Env } from './app.js';
import type { RequestGate } from './fast-chunks.js';

export interface BatchListDeps {
  store: ChunkStore;
  keys: KeySource;
  relayId: string;
  /** The relay's request slots (app.ts), shared with every file route. */
  gate: RequestGate;
}

/** Listings run at once within one batch: the store's reads overlap without opening 256 folders together. */
const LIST_PARALLEL = 8;

type Item = { fileId: string; chunks: Awaited<ReturnType<ChunkStore['list']>> } | { error: { code: string; message: string } };

/**
 * Takes up to `want` request slots, as many as are free now, and answers how many were taken; the caller
 * gives each back when its work is done. Never more than are free: `handling` stays at most `max`.
 */
function takeSlots(gate: RequestGate, want: number): number {
  const n = Math.max(0, Math.min(want, gate.max - gate.handling));
  gate.handling += n;
  return n;
}

function tokensOf(body: unknown): string[] {
  const tokens = (body as { tokens?: unknown } | null)?.tokens;
  if (!Array.isArray(tokens) || tokens.length === 0 || tokens.length > MAX_LIST_BATCH || tokens.some((t) => typeof t !== 'string' || t.length === 0 || t.length > MAX_TOKEN_BYTES)) {
    throw new KofnError('BAD_REQUEST', `Expected {"tokens": [...]} with 1..${MAX_LIST_BATCH} list tokens.`);
  }
  return tokens as string[];
}

async function listOne(deps: BatchListDeps, token: string): Promise<Item> {
  try {
    const cap = await verifyCapability(`Bearer ${token}`, deps.keys, deps.relayId);
    // The same scope check as the single listing route: op "list" on the file the token names.
    requireScope(cap, 'list', cap.fid);
    return { fileId: cap.fid, chunks: await deps.store.list(epochId(cap.fid, cap.ep ?? 0)) };
  } catch (err) {
    // As the single route would answer it (a storage error is INTERNAL, never its text); the others go on.
    return toHttpError(err).body;
  }
}

export function mountBatchList(app: Hono<Env>, deps: BatchListDeps): void {
  app.post(LIST_BATCH_PATH, async (c: Context<Env>) => {
    const tokens = tokensOf(await readJsonBody(c, MAX_LIST_BATCH_BODY));
    const items = new Array<Item>(tokens.length);
    // One listing runs on the request's own slot (app.ts takes and gives it back); each other one at once
    // needs a slot of its own (see the file comment).
    const workers = 1 + takeSlots(deps.gate, Math.min(LIST_PARALLEL, tokens.length) - 1);
    let next = 0;
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        try {
          while (next < tokens.length) {
            const i = next++;
            items[i] = await listOne(deps, tokens[i]!);
          }
        } finally {
          if (w > 0) deps.gate.handling -= 1;
        }
      })
    );
    return c.json({ files: items });
  });
}
