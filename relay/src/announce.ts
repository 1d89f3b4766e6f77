/**
 * The relay's side of relay identity: enroll once with an administrator's one-time token, then heartbeat,
 * every message signed with the relay's own Ed25519 key (see `@kofn/shared` announcement.ts for the
 * signed bytes and the replay rule). The coordinator's answers are read with a size and time bound: a
 * hostile or broken coordinator must not hang or bloat a relay. Tokens are never logged.
 */
import { KofnError, RELAY_ENROLL_PATH, RELAY_HEARTBEAT_PATH, RELAY_SIGNATURE_HEADER, hasErrorCode, readBounded, relaySigningInput, type RelayReport } from '@kofn/shared';
import type { RelayConfig } from './config.js';
import { signWith, type RelayKey } from './identity.js';

export interface AnnouncerLog {
  info: (obj: object, msg: string) => void;
  warn: (obj: object, msg: string) => void;
}

/** The coordinator answers with a few hundred bytes of JSON; anything longer is not an answer. */
const MAX_ANSWER_BYTES = 16 * 1024;
const REQUEST_TIMEOUT_MS = 5_000;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** POSTs one signed message; the same deadline covers connecting, the headers and the whole answer. */
export async function postSigned(coordinator: string, path: string, key: RelayKey, message: object, signal?: AbortSignal): Promise<Answer> {
  const body = new TextEncoder().encode(JSON.stringify(message));
  const deadline = AbortSignal.timeout(REQUEST_TIMEOUT_MS);
  const res = await fetch(`${coordinator}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [RELAY_SIGNATURE_HEADER]: signWith(key, relaySigningInput(path, body)) },
    body,
    signal: signal ? AbortSignal.any([signal, deadline]) : deadline
  });
  const raw = await readBounded(res.body, MAX_ANSWER_BYTES, () => new KofnError('PAYLOAD_TOO_LARGE', `The coordinator's answer is over ${MAX_ANSWER_BYTES} bytes.`));
  let parsed: unknown;
  try {
    parsed = raw.byteLength ? JSON.parse(new TextDecoder().decode(raw)) : {};
  } catch {
    parsed = {};
  }
  const obj = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  return { status: res.status, body: obj };
}

function errorCodeOf(a: Answer): string {
  const e = a.body.error as { code?: unknown } | undefined;
  return typeof e?.code === 'string' ? e.code : `HTTP ${a.status}`;
}

/**
 * Enrolls this relay's key with the coordinator using the administrator's one-time token and answers the
 * relay id the coordinator assigned. A refusal (4xx) is final and thrown; an unreachable coordinator or a
 * 5xx is retried every `retryMs` until `signal` aborts.
 */
export async function enroll(config: RelayConfig, key: RelayKey, report: RelayReport, log: AnnouncerLog, opts: { retryMs: number; signal?: AbortSignal }): Promise<string> {
  for (;;) {
    try {
      const a = await postSigned(config.coordinator, RELAY_ENROLL_PATH, key, { ...report, token: config.enrollment_token, publicKey: key.publicKey, at: Date.now() }, opts.signal);
      if (a.status === 200 && typeof a.body.relayId === 'string') return a.body.relayId;
      if (a.status >= 400 && a.status < 500) {
        throw new KofnError('ENROLLMENT_INVALID', `The coordinator refused the enrollment (${errorCodeOf(a)}): ask an administrator for a new enrollment token.`);
      }
      log.warn({ status: a.status }, 'coordinator could not enroll this relay yet; will retry');
    } catch (err) {
      if (hasErrorCode(err, 'ENROLLMENT_INVALID') || opts.signal?.aborted) throw err;
      log.warn({ err: (err as Error).message }, 'coordinator unreachable; will retry enrollment');
    }
    await new Promise((r) => setTimeout(r, opts.retryMs));
  }
}

/** Retry delay before the coordinator's first answer (see startHeartbeat). */
const FIRST_RETRY_MS = 1000;

/** Heartbeats every interval with a signed, timestamped report; failures are retried at the next beat. */
export function startHeartbeat(config: RelayConfig, key: RelayKey, relayId: string, describe: () => Promise<RelayReport>, log: AnnouncerLog): { stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let announced = false;
  let lastAt = 0;
  let mismatch = '';
  let answered = false;
  const controller = new AbortController();

  const beat = async (): Promise<void> => {
    try {
      // Strictly increasing even if two beats fall in one millisecond or the clock steps back a little.
      lastAt = Math.max(Date.now(), lastAt + 1);
      const report = await describe();
      const a = await postSigned(config.coordinator, RELAY_HEARTBEAT_PATH, key, { ...report, relayId, at: lastAt }, controller.signal);
      // Any answer, even a refusal, means the coordinator is up: back to the normal period.
      answered = true;
      if (a.status !== 200) {
        log.warn({ status: a.status, code: errorCodeOf(a) }, 'coordinator refused heartbeat');
        announced = false;
      } else {
        if (!announced) {
          announced = true;
          log.info({ coordinator: config.coordinator, relayId }, 'heartbeating to coordinator');
        }
        // The coordinator keeps the URL and name an administrator set: say so when this relay's differ.
        const registered = a.body.registered as { url?: unknown; name?: unknown } | undefined;
        const now = registered && (registered.url !== report.url || registered.name !== report.name) ? JSON.stringify(registered) : '';
        if (now && now !== mismatch) {
          log.warn({ registered, configured: { url: report.url, name: report.name } }, 'the coordinator has another URL or name for this relay; an administrator changes them');
        }
        mismatch = now;
      }
    } catch (err) {
      if (stopped) return;
      announced = false;
      log.warn({ err: (err as Error).message }, 'coordinator unreachable; will retry');
    } finally {
      // Until the coordinator has answered at all, retry within a second: a relay started beside its
      // coordinator (the launcher starts enrolled relays in parallel with it) is then online about a second
      // after the coordinator is, not a whole heartbeat period later.
      const everyMs = config.proxy_reconnection_interval * 1000;
      if (!stopped) timer = setTimeout(() => void beat(), answered ? everyMs : Math.min(FIRST_RETRY_MS, everyMs));
    }
  };

  void beat();
  return {
    stop: () => {
      stopped = true;
      controller.abort();
      if (timer) clearTimeout(timer);
    }
  };
}
