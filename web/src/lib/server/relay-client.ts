/**
 * The coordinator talking to relays itself (never with shares): listing a file's stored chunks to
 * verify a commit, and deleting a file's shares. It mints its own short capability tokens. Transport,
 * time and size bounds are the shared RelayClient's (issue #13 item 6: an endless chunk list grew the
 * coordinator by 280-625 MB and ended in a 500; now it is cut at the bound and the relay is named).
 */
import { DEFAULT_RELAY_TIMEOUTS, RelayClient, type ChunkListing, type RelayRef, type RelayTimeouts } from '@kofn/shared';
import { mintCapability, type SigningKey } from './signing-keys.js';

export type { RelayRef };

/**
 * A coordinator's relay call runs inside a browser's API request (commit) or a job, so it is cut at 60 s
 * whatever the configured total: a relay trickling a chunk list must not hold a request for minutes.
 */
const COORDINATOR_TOTAL_MS = 60_000;

function clientFor(relay: RelayRef, timeouts: RelayTimeouts, token: () => Promise<string>): RelayClient {
  return new RelayClient(relay, { token, timeouts: { ...timeouts, totalMs: Math.min(timeouts.totalMs, COORDINATOR_TOTAL_MS) } });
}

/**
 * The chunks `relay` holds of a file of `chunkCount` data chunks (the answer is bounded by that count), at
 * `epoch` (a renewed file, #15: relays list the epoch the token names).
 */
export async function listChunks(key: SigningKey, relay: RelayRef, fileId: string, chunkCount: number, timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS, epoch = 0): Promise<ChunkListing[]> {
  const token = () => mintCapability(key, { relayId: relay.id, userId: 'coordinator', fid: fileId, op: 'list', chunks: [0, 0], ttl: 60, ...(epoch > 0 ? { ep: epoch } : {}) });
  return clientFor(relay, timeouts, token).list(fileId, chunkCount + 1);
}

/** `epoch` > 0 (a renewed file, #15): the relay also deletes that epoch and the next (staged) one. */
export async function deleteFileOn(key: SigningKey, relay: RelayRef, fileId: string, timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS, epoch = 0): Promise<number> {
  const token = () => mintCapability(key, { relayId: relay.id, userId: 'coordinator', fid: fileId, op: 'delete_file', chunks: [0, 0], ttl: 60, ...(epoch > 0 ? { ep: epoch } : {}) });
  return clientFor(relay, timeouts, token).deleteFile(fileId);
}
