/**
 * Following a file's renewals during one retrieval (#15, shared/docs/renewal.md "Downloads that outlive
 * their epoch"): the one decision, shared by the browser's engine (web/src/lib/engine/retrieve.ts, for
 * signed-in and share-link downloads) and `kofn retrieve` (cli/retrieve.ts).
 *
 * A retrieval reads the epoch its manifest named. After a renewal switched the file to e+1, the relays keep
 * epoch e for a grace period and the coordinator mints tokens for it until shortly before the drop; then it
 * answers EPOCH_GONE, and a relay asked for a dropped epoch answers NOT_FOUND. Renewal changes shares, never
 * records: every chunk's record (data || tag, the tag binding file id, index and final flag, not the epoch)
 * is the same at every epoch, so chunk i rebuilt from epoch e+1's shares authenticates under the key the
 * retrieval already holds and gives the same bytes. A retrieval that meets either answer for chunk i
 * therefore goes on from chunk i at the file's current epoch, with the manifest (placements, tokens) read
 * again for it. What keeps that sound is left to the engines and the decoder:
 *   - a chunk is read wholly at one epoch: its shares are fetched with tokens naming one epoch and decoded
 *     expecting that epoch (the share headers carry it; any other is MIXED_EPOCH), and a chunk interrupted
 *     by the hop is fetched again from scratch at the new epoch;
 *   - nothing is released unless it authenticated under the key read from chunk 0 before the hop (shares of
 *     the new epoch that encode anything else fail as AUTH_FAILED);
 *   - the new manifest must describe the same file (same id, record name, size, chunk size and count, k, and
 *     the same layout: none, or for a tree file the same tree, groups and relays at the same places): a
 *     coordinator describing another file is refused (METADATA_MISMATCH), nothing more is written;
 *   - at most MAX_EPOCH_HOPS manifests are read again per retrieval, then EPOCH_GONE: a file renewed that
 *     often during one download is being renewed far faster than any schedule does (KOFN_RENEWAL_DAYS).
 *
 * NOT_FOUND alone does not mean the epoch went: a relay may have lost its share. So a NOT_FOUND asks the
 * coordinator once (concurrent chunks share one request); if the file is still at the epoch read, the
 * answer is the relay's own failure and the engine fails over to a spare as before.
 * Tree files (issue #21) are renewed in place (renewal.md, "Tree files": no relay joins or leaves), so a tree
 * retrieval hops as a flat one does, to the same tree at the new epoch. A tree whose relays moved meanwhile
 * (a drain) is another sharing than the one being read: METADATA_MISMATCH, and the retrieval is started again.
 */
import { KofnError } from '../errors.js';
import type { Manifest } from './api-types.js';

/** Manifests read again per retrieval at most (each follows one or more renewals), then EPOCH_GONE. */
export const MAX_EPOCH_HOPS = 3;

/** What the follower compares between the manifest a retrieval began with and a later one. */
export type FollowedManifest = Pick<Manifest, 'fileId' | 'name' | 'size' | 'chunkSize' | 'chunkCount' | 'k' | 'epoch' | 'layout'>;

/** Answers from a relay or the coordinator that may mean the epoch being read is no longer kept. */
export function mayBeEpochGone(code: string | undefined): boolean {
  return code === 'EPOCH_GONE' || code === 'NOT_FOUND';
}

export interface EpochFollowerOptions<M> {
  /** The file's current manifest, with read tokens for its current epoch (for a share link: without counting a download). */
  current: () => Promise<M>;
  /**
   * Called, synchronously, when the follower moves to a newer manifest, before any caller hears of it: the
   * engine switches its placements and tokens there, so a chunk started afterwards never pairs the new
   * epoch with the old epoch's tokens.
   */
  onHop?: (m: M) => void;
  maxHops?: number;
}

/** Both flat, or the same tree (manifests are JSON from one coordinator: the same tree serialises the same). */
function sameLayout(a: FollowedManifest['layout'], b: FollowedManifest['layout']): boolean {
  if (a === undefined || b === undefined) return a === b;
  return JSON.stringify(a) === JSON.stringify(b);
}

export class EpochFollower<M extends FollowedManifest> {
  #manifest: M;
  #hops = 0;
  /** The manifest request under way, and the epoch whose failure started it. */
  #asking: { from: number; p: Promise<void> } | undefined;
  readonly #first: M;
  readonly #current: () => Promise<M>;
  readonly #onHop: ((m: M) => void) | undefined;
  readonly #maxHops: number;

  constructor(first: M, opts: EpochFollowerOptions<M>) {
    this.#first = first;
    this.#manifest = first;
    this.#current = opts.current;
    this.#onHop = opts.onHop;
    this.#maxHops = opts.maxHops ?? MAX_EPOCH_HOPS;
  }

  /** The manifest of the epoch chunks are read at now. */
  get manifest(): M {
    return this.#manifest;
  }

  get epoch(): number {
    return this.#manifest.epoch;
  }

  /** Manifests read again so far. */
  get hops(): number {
    return this.#hops;
  }

  /**
   * Reading a chunk at epoch `from` ended with `code`. Resolves to the manifest to read that chunk again at
   * (a newer epoch: the file was renewed meanwhile), or undefined when the file is still at `from` or the
   * code says nothing about epochs (the failure is then what it was: a relay's, or the coordinator's).
   * Throws EPOCH_GONE past the hop bound, METADATA_MISMATCH for a manifest of another file, and whatever
   * reading the manifest threw (the coordinator unreachable, access ended).
   */
  async moved(from: number, code: string | undefined): Promise<M | undefined> {
    if (!mayBeEpochGone(code)) return undefined;
    if (from < this.#manifest.epoch) return this.#manifest;
    // One request for every chunk that failed at the same epoch; a failure of it reaches each of them.
    let asking = this.#asking;
    if (asking?.from !== from) {
      const p: Promise<void> = this.#ask(from).finally(() => {
        if (this.#asking?.p === p) this.#asking = undefined;
      });
      asking = this.#asking = { from, p };
    }
    await asking.p;
    return from < this.#manifest.epoch ? this.#manifest : undefined;
  }

  async #ask(from: number): Promise<void> {
    const next = await this.#current();
    // Still at the epoch read (or, from a coordinator restored from a backup, an older one): no hop. The
    // caller's failure stands. Nor when another request already moved further.
    if (next.epoch <= from || next.epoch <= this.#manifest.epoch) return;
    const f = this.#first;
    if (
      next.fileId !== f.fileId ||
      next.name !== f.name ||
      next.size !== f.size ||
      next.chunkSize !== f.chunkSize ||
      next.chunkCount !== f.chunkCount ||
      next.k !== f.k ||
      !sameLayout(next.layout, f.layout)
    ) {
      throw new KofnError('METADATA_MISMATCH', 'After a renewal of this file the coordinator describes it differently from the file being retrieved; nothing more was saved.');
    }
    if (this.#hops >= this.#maxHops) {
      throw new KofnError(
        'EPOCH_GONE',
        `This file was renewed more than ${this.#maxHops} times while it was being retrieved (now epoch ${next.epoch}); the retrieval stopped following it. Retrieve it again.`
      );
    }
    // The engine first: if it cannot read the new epoch (too few of its relays left), nothing moves.
    this.#onHop?.(next);
    this.#hops += 1;
    this.#manifest = next;
  }
}
