/**
 * Which epoch the fresh read tokens of a running retrieval name (#15, shared/docs/renewal.md steps 5-6).
 *
 * A retrieval rebuilds every chunk at the epoch its manifest named (the decoder refuses any other:
 * MIXED_EPOCH). A long one renews its tokens as they run out (engine/tokens.ts), and those were minted at the
 * manifest's *current* epoch: once a renewal switched the file to e+1 mid-download, every relay served e+1
 * shares to a decoder expecting e, and the retrieval failed on every relay at once. So the retrieval now says
 * which epoch it reads, and while the relays still keep that epoch (RENEWAL_GRACE_MS after the switch, when
 * the drop job runs) its tokens name it, each ending before the drop. Once no such token can be minted the
 * request is refused with EPOCH_GONE, which ends the transfer cleanly (nothing saved, never a mix of epochs).
 */
import { KofnError, MAX_TOKEN_LIFETIME_S } from '@kofn/shared';

/** The old epoch stays readable this long after the switch: every read token minted before it has expired. */
export const RENEWAL_GRACE_MS = (MAX_TOKEN_LIFETIME_S + 60) * 1000;

/**
 * A token for the epoch before the switch ends this long before the drop job may run: the relays accept a
 * token 5 s past `exp` (relay/src/capability.ts CLOCK_TOLERANCE_S), and a GET started just before `exp` still
 * needs its body served.
 */
export const DROP_MARGIN_S = 60;

/** Old-epoch tokens shorter than this are not minted (config.ts MIN_TOKEN_TTL_S is the shortest token there is). */
export const MIN_OLD_EPOCH_TTL_S = 10;

export interface ReadEpoch {
  epoch: number;
  /** Seconds the tokens live: the configured lifetime, shortened so that old-epoch tokens end before the drop. */
  ttl: number;
}

/**
 * The epoch and lifetime of read tokens for `file` when the retrieval asks for epoch `asked` (undefined: a
 * new retrieval, which reads the current epoch). Only the current epoch and the one just before it are read:
 * an older one was dropped by an earlier renewal's job, or will be before its tokens could end. `graceMs`:
 * the coordinator's (config.ts renewalGraceMs; shorter only in builds made for tests).
 */
export function readEpoch(file: { epoch: number; lastRenewalAt: Date | null }, asked: number | undefined, ttlS: number, now: Date, graceMs = RENEWAL_GRACE_MS): ReadEpoch {
  if (asked === undefined || asked === file.epoch) return { epoch: file.epoch, ttl: ttlS };
  const dropAt = asked === file.epoch - 1 && file.lastRenewalAt ? file.lastRenewalAt.getTime() + graceMs : 0;
  const left = Math.floor((dropAt - now.getTime()) / 1000) - DROP_MARGIN_S;
  if (left < MIN_OLD_EPOCH_TTL_S) {
    throw new KofnError(
      'EPOCH_GONE',
      `This file was renewed (epoch ${file.epoch}) while it was being retrieved, and epoch ${asked}, which this retrieval reads, is no longer kept; retrieve it again.`
    );
  }
  return { epoch: asked, ttl: Math.min(ttlS, left) };
}
