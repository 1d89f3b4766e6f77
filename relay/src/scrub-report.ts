/**
 * `--scrub` tells the coordinator what it found (issue #16): the chunks whose bytes no longer match the
 * digest recorded when they were stored, in one message signed by this relay's key (announcement.ts),
 * so the coordinator marks those shares damaged and schedules them for repair. The whole scrub is one
 * report: chunks it does not name are clean, which clears damage a repair has since fixed.
 */
import { MAX_SCRUB_ENTRIES, RELAY_SCRUB_PATH, type RelayScrubReport } from '@kofn/shared';
import type { RelayKey } from './identity.js';
import { postSigned } from './announce.js';

export interface ScrubResult {
  checked: number;
  corrupt: Array<{ fileId: string; index: number }>;
}

/**
 * Sends the report; answers the coordinator's count of damaged files it recorded. A serving relay's
 * heartbeat may have taken the same millisecond (`at` must be strictly newer than the last accepted
 * message), so a refusal of the signed message is retried a few times with a later `at`.
 */
export async function reportScrub(coordinator: string, key: RelayKey, relayId: string, result: ScrubResult): Promise<{ damagedFiles: number }> {
  let at = Date.now();
  for (let attempt = 0; ; attempt++) {
    const report: RelayScrubReport = { relayId, at, checked: result.checked, corrupt: result.corrupt.slice(0, MAX_SCRUB_ENTRIES) };
    const a = await postSigned(coordinator, RELAY_SCRUB_PATH, key, report);
    if (a.status === 200) return { damagedFiles: typeof a.body.damagedFiles === 'number' ? a.body.damagedFiles : 0 };
    const e = a.body.error as { code?: unknown; message?: unknown } | undefined;
    // Compared by code, never message text: a wrong key or clock fails again and ends in the throw.
    const retry = e?.code === 'RELAY_SIGNATURE_INVALID';
    if (!retry || attempt >= 3) throw new Error(`the coordinator refused the scrub report (${typeof e?.code === 'string' ? e.code : `HTTP ${a.status}`})`);
    at = Math.max(Date.now(), at + 1000);
  }
}
