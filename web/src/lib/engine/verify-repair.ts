/**
 * The owner's browser authenticates shares rebuilt or moved by repair (issue #16; shared/docs/repair.md,
 * "Verification by the owner's browser"). The coordinator verified each by its digest root, which is what the
 * relay lists; it never holds the MAC key, so only this browser can tell whether the bytes a relay serves
 * rebuild the file. For each group of at most k repaired shares, the file is retrieved with retrieve.ts from a
 * k-subset that starts with that group (`prefer`), every chunk (the metadata record included) rebuilt and
 * authenticated in the share workers, into a sink that keeps nothing (sinks.ts discardSink). A chunk failing
 * authentication is read again with a spare relay and the decoder names the relay that sent bad data
 * (retrieve.ts), so a failure names the share.
 */
import type { RepairCheck, RelayTimeouts, VerificationReport } from '@kofn/shared';
import { retrieveFile, type RetrieveError, type RetrieveResult } from './retrieve';
import { discardSinkFor } from './sinks';

/** What one retrieval through a group of repaired shares says about them. */
export type GroupOutcome =
  /** Every share of the group took part in every chunk, and every chunk authenticated. */
  | { ok: true; relayIds: string[] }
  /** These shares of the group sent data failing authentication. */
  | { ok: false; relayIds: string[]; badRelayIds: string[] }
  /** Nothing known about the group (a relay did not answer, the retrieval failed otherwise): checked again later. */
  | { unchecked: true; relayIds: string[]; code: string };

/** The repaired shares in groups of at most k, each to be read in one k-subset. */
export function groupsOf(relayIds: readonly string[], k: number): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < relayIds.length; i += k) out.push(relayIds.slice(i, i + k));
  return out;
}

/**
 * The outcome from a retrieval's result or error. A share counts as verified only if it neither sent bad data
 * nor failed to deliver, and went into every chunk rebuilt (`readWhole`).
 */
export function outcomeOf(group: string[], r: RetrieveResult | Partial<RetrieveError>): GroupOutcome {
  const bad = group.filter((id) => r.badRelays?.includes(id));
  if (bad.length > 0) return { ok: false, relayIds: group, badRelayIds: bad };
  if ('code' in r) return { unchecked: true, relayIds: group, code: typeof r.code === 'string' ? r.code : 'INTERNAL' };
  if (group.some((id) => r.unreachable?.includes(id))) return { unchecked: true, relayIds: group, code: 'RELAYS_OFFLINE' };
  // Read for every chunk, or not verified: a tree file's retrieval may leave a repaired share out (its group
  // not among the K read, or more repaired shares in a group than k_g), and succeeding without a share says
  // nothing about it.
  const whole = 'readWhole' in r ? r.readWhole : [];
  if (group.some((id) => !whole.includes(id))) return { unchecked: true, relayIds: group, code: 'NOT_READ' };
  return { ok: true, relayIds: group };
}

/** The report for the coordinator (`POST /api/files/:id/verification`), or none when nothing was learnt. */
export function reportOf(epoch: number, o: GroupOutcome): VerificationReport | undefined {
  if ('unchecked' in o) return undefined;
  return o.ok ? { epoch, relayIds: o.relayIds, ok: true } : { epoch, relayIds: o.relayIds, ok: false, badRelayIds: o.badRelayIds };
}

export interface VerifyOptions {
  k: number;
  relayTimeouts?: Partial<RelayTimeouts>;
  signal?: AbortSignal;
  /** retrieve.ts's retrieveFile; tests give their own. */
  retrieve?: typeof retrieveFile;
}

/** Checks the file's repaired shares group by group, one retrieval at a time; a cancellation is passed on. */
export async function verifyRepaired(fileId: string, check: RepairCheck, opts: VerifyOptions): Promise<GroupOutcome[]> {
  const retrieve = opts.retrieve ?? retrieveFile;
  const outcomes: GroupOutcome[] = [];
  for (const group of groupsOf(check.relayIds, opts.k)) {
    try {
      const r = await retrieve(fileId, discardSinkFor, { prefer: group, ...(opts.relayTimeouts ? { relayTimeouts: opts.relayTimeouts } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
      outcomes.push(outcomeOf(group, r));
    } catch (err) {
      if (opts.signal?.aborted || (err as { name?: string } | null)?.name === 'AbortError') throw err;
      // retrieve.ts throws a RetrieveError (code, relays); anything else is unchecked with its code, if any.
      outcomes.push(outcomeOf(group, typeof err === 'object' && err !== null ? err : { code: 'INTERNAL' }));
    }
  }
  return outcomes;
}
