/**
 * The browser's side of the relay protocol: a thin adapter over the shared RelayClient (timeouts, size
 * bounds, retries, errors naming the relay: shared/src/protocol/relay-client.ts), and ping for latency.
 */
import { ConnectionSlots, RelayClient, type RelayTimeouts } from '@kofn/shared';
import { timedFetch } from './resource-timing';

/** One relay as the engine addresses it, with the capability token to use. */
export interface RelayEndpoint {
  url: string;
  relayId: string;
  /** Shown in errors; the relay id when the caller has no name. */
  name?: string;
  token: string;
  /** The epoch a retrieval reads with this token (#15): its renewal names the same epoch. Absent: uploads. */
  epoch?: number;
}

/**
 * Asks the coordinator for a fresh token for one relay (after the relay said the one it had expired), for a
 * retrieval naming the epoch it reads (retrieve.ts: a chunk is read wholly at one epoch).
 */
export type RenewToken = (relayId: string, epoch?: number) => Promise<string>;

/**
 * Requests at once to one relay from this thread: Chromium's six HTTP/1.1 connections a host
 * (net::ClientSocketPoolManager's per-group limit). Past them it queues requests with their tokens already in
 * their headers, and a retrieval keeps eight chunks in flight, a share each from every relay it reads (k = n:
 * eight requests to each relay). Queued in ConnectionSlots instead, each reads its token when it can be sent.
 * The six are the browser's, not a thread's: a pool of share workers divides them (`relaySlotsPerWorker`,
 * set in each worker by pool.ts through `useRelaySlots`).
 */
export const CHROMIUM_CONNECTIONS_PER_HOST = 6;
let slotsPerRelay = CHROMIUM_CONNECTIONS_PER_HOST;
const slotsByOrigin = new Map<string, ConnectionSlots>();
function slotsFor(url: string): ConnectionSlots {
  const origin = new URL(url).origin;
  let slots = slotsByOrigin.get(origin);
  if (!slots) slotsByOrigin.set(origin, (slots = new ConnectionSlots(slotsPerRelay)));
  return slots;
}

/** Each of `workers` threads' part of the six: at least one, so that no worker waits forever. */
export function relaySlotsPerWorker(workers: number): number {
  return Math.max(1, Math.floor(CHROMIUM_CONNECTIONS_PER_HOST / Math.max(1, workers)));
}

/** This thread's requests at once to one relay, from now on (before its first request: a worker's start). */
export function useRelaySlots(n: number): void {
  slotsPerRelay = n;
  slotsByOrigin.clear();
}

/**
 * A client for `target`. The token is read at every attempt; when the relay says it expired, `renew`
 * (when given) fetches a new one, kept in `target` for its later requests. Tokens live 15 minutes, so a
 * retrieval or upload running longer needs this.
 */
export function relayClient(target: RelayEndpoint, timeouts?: Partial<RelayTimeouts>, renew?: RenewToken): RelayClient {
  return new RelayClient(
    { id: target.relayId, name: target.name ?? target.relayId, url: target.url },
    {
      token: (_op, expired) => (expired && renew ? renew(target.relayId, target.epoch).then((t) => (target.token = t)) : target.token),
      slots: slotsFor(target.url),
      ...(timeouts ? { timeouts } : {})
    }
  );
}

/**
 * Round-trip time to a relay in ms (median of 3), or Infinity when it does not answer. Each time is the
 * request's network time from Resource Timing (resource-timing.ts), not main-thread scheduling delays.
 */
export async function ping(url: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    try {
      const { res, ms } = await timedFetch(`${url}/v1/ping`, { cache: 'no-store', signal: AbortSignal.timeout(3000) });
      if (res.status !== 204) return Infinity;
      times.push(ms);
    } catch {
      return Infinity;
    }
  }
  return times.sort((a, b) => a - b)[1]!;
}
