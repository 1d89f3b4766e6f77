/**
 * The coordinator talking to relays itself (never with shares): listing a file's stored chunks to
 * verify a commit, and deleting a file's shares. It mints its own short capability tokens. Transport,
 * time and size bounds are the shared RelayClient's (issue #13 item 6: an endless chunk list grew the
 * coordinator by 280-625 MB and ended in a 500; now it is cut at the bound and the relay is named).
 */
import { DEFAULT_RELAY_TIMEOUTS, KofnError, MAX_LIST_BATCH, RelayClient, type ChunkListing, type ListOutcome, type RelayRef, type RelayTimeouts } from '@kofn/shared';
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

/** Files a relay predating the batch route lists one by one at once (as commitFiles did before it). */
const ALONE_PARALLEL = 16;

/**
 * The chunks `relay` holds of each of `list` (files at epoch 0 being committed), in requests of
 * MAX_LIST_BATCH files (issue #14: one request per file and relay was a batch commit's largest cost). Each
 * file gets its own `list` token, as for `listChunks`. Answers per file its listing or its error: the
 * relay's refusal of that file, or the failure of the request that carried it. A relay that predates the
 * batch route (404/405) gets one request per file, as before.
 */
export async function listChunksMany(
  key: SigningKey,
  relay: RelayRef,
  list: ReadonlyArray<{ fileId: string; chunkCount: number }>,
  timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS
): Promise<Array<ChunkListing[] | KofnError>> {
  const out = new Array<ChunkListing[] | KofnError>(list.length);
  const settle = async (i: number, listing: Promise<ChunkListing[]>) => {
    out[i] = await listing.catch((err: unknown) => {
      if (err instanceof KofnError) return err;
      throw err;
    });
  };
  const client = clientFor(relay, timeouts, () => Promise.reject(new Error('listMany sends its tokens in the body')));
  for (let start = 0; start < list.length; start += MAX_LIST_BATCH) {
    const part = list.slice(start, start + MAX_LIST_BATCH);
    const tokens = await Promise.all(part.map((f) => mintCapability(key, { relayId: relay.id, userId: 'coordinator', fid: f.fileId, op: 'list', chunks: [0, 0], ttl: 60 })));
    let outcomes: ListOutcome[];
    try {
      outcomes = await client.listMany(part.map((f, j) => ({ fileId: f.fileId, maxChunks: f.chunkCount + 1, token: tokens[j]! })));
    } catch (err) {
      if (!(err instanceof KofnError)) throw err;
      const status = err.details.status;
      if (status !== 404 && status !== 405) {
        for (let j = 0; j < part.length; j++) out[start + j] = err;
        continue;
      }
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(ALONE_PARALLEL, part.length) }, async () => {
          while (next < part.length) {
            const j = next++;
            await settle(start + j, listChunks(key, relay, part[j]!.fileId, part[j]!.chunkCount, timeouts));
          }
        })
      );
      continue;
    }
    for (const [j, o] of outcomes.entries()) out[start + j] = o.ok ? o.chunks : o.error;
  }
  return out;
}

/** `epoch` > 0 (a renewed file, #15): the relay also deletes that epoch and the next (staged) one. */
export async function deleteFileOn(key: SigningKey, relay: RelayRef, fileId: string, timeouts: RelayTimeouts = DEFAULT_RELAY_TIMEOUTS, epoch = 0): Promise<number> {
  const token = () => mintCapability(key, { relayId: relay.id, userId: 'coordinator', fid: fileId, op: 'delete_file', chunks: [0, 0], ttl: 60, ...(epoch > 0 ? { ep: epoch } : {}) });
  return clientFor(relay, timeouts, token).deleteFile(fileId);
}
