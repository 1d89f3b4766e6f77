/**
 * The coordinator's token-signing keys (its JWKS at /api/jwks), fetched by the relay when a token names a
 * key it has not seen. The answer is read bounded in size as well as in time (issue #13: every read of
 * another party's answer is bounded): jose alone reads the whole body with `json()` until its timeout, so
 * whoever answers at the coordinator's address could make the relay buffer gigabytes in those seconds.
 */
import { createRemoteJWKSet, customFetch, type FetchImplementation } from 'jose';
import { KofnError, readBounded } from '@kofn/shared';
import type { KeySource } from './capability.js';

/** A JWKS of a few Ed25519 keys is well under 1 KiB; rotation keeps at most a handful. */
export const MAX_JWKS_BYTES = 64 * 1024;

export interface CoordinatorKeysOptions {
  /** Milliseconds for the whole fetch, answer included (jose's default is 5 s). */
  timeoutMs?: number;
}

/** An outage to route around (503 UNAVAILABLE), as for a key set that does not answer. */
const unavailable = (why: string) => new KofnError('UNAVAILABLE', `The coordinator\u2019s signing keys are unreachable (${why}).`);

const boundedFetch: FetchImplementation = async (url, options) => {
  let res: Response;
  try {
    res = await fetch(url, options);
  } catch (e) {
    if (options.signal.aborted) throw options.signal.reason;
    // Refused or reset: the coordinator (or the one replica a load balancer sent this to) is down. An outage
    // the client retries, not a bad token (issue #22: seen when a coordinator replica died mid-upload).
    throw unavailable((e as { cause?: { code?: string } }).cause?.code ?? 'no answer');
  }
  if (!res.ok) {
    // A proxy's 502/503 in front of a dying coordinator: the same outage (jose alone would make it TOKEN_INVALID).
    await res.body?.cancel().catch(() => undefined);
    throw unavailable(`answered ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > MAX_JWKS_BYTES) {
    await res.body?.cancel().catch(() => undefined);
    throw unavailable('answer too large');
  }
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = await readBounded(res.body, MAX_JWKS_BYTES, () => unavailable('answer too large'));
  } catch (e) {
    // jose turns a TimeoutError into its own ERR_JWKS_TIMEOUT, which the relay answers as an outage.
    if (options.signal.aborted) throw options.signal.reason;
    throw e;
  }
  return new Response(bytes, { status: res.status, statusText: res.statusText, headers: res.headers });
};

export function coordinatorKeys(coordinator: string, opts: CoordinatorKeysOptions = {}): KeySource {
  return createRemoteJWKSet(new URL(`${coordinator}/api/jwks`), { cooldownDuration: 30_000, timeoutDuration: opts.timeoutMs ?? 5_000, [customFetch]: boundedFetch });
}
