/**
 * "Test the link" (issue #21 part 2): this browser stores a small random sub-file on another deployment X,
 * reads it back and removes it, through X's coordinator (signed requests, federation-client.ts) and X's
 * relays (the shared RelayClient, with X's tokens), so a user and an operator see that a remote group will
 * work before a file depends on it: CORS at X and at X's relays, H's connect-src, the user link, X's
 * licence. The same calls a protect with a remote group makes, end to end, with nothing from the home
 * deployment's server in between.
 */
import { RelayClient, createProtectStream, createRetrieveStream, digestRoot, fileIdFromHex, randomBytes, shareChunkLength, type ShareSet } from '@kofn/shared';
import { ApiError } from './api';
import { commitRemote, removeRemote, reserveRemote, statusRemote, tokensRemote, type RemoteLink } from './federation-client';

export interface RoundTrip {
  bytes: number;
  relays: number;
  k: number;
}

/** Metadata record chunk (0) bound: at most 1340 bytes of data (see testing/protect.ts retrieveWith). */
const RECORD_BYTES = 1340;

export async function checkRemoteRoundTrip(link: RemoteLink, size = 64 * 1024, signal?: AbortSignal): Promise<RoundTrip> {
  const data = randomBytes(size);
  const r = await reserveRemote(link, { size, k: 2 }, signal);
  let failure: unknown;
  try {
    const p = await createProtectStream({
      k: r.k,
      xs: r.placements.map((pl) => pl.x),
      fileId: fileIdFromHex(r.fileId),
      file: { name: r.name ?? 'link-check', size, type: 'application/octet-stream', chunkSize: r.chunkSize }
    });
    const writing = (async () => {
      const w = p.writable.getWriter();
      await w.write(data);
      await w.close();
    })();
    const clients = r.placements.map((pl) => new RelayClient({ id: pl.relayId, name: pl.name, url: pl.url }, { token: () => pl.token }));
    const digests = r.placements.map(() => [] as string[]);
    for await (const c of p.readable) {
      await Promise.all(clients.map(async (client, j) => digests[j]!.push((await client.put(r.fileId, c.index, new Uint8Array(c.shares[j]!), signal)).digest)));
    }
    await writing;
    const roots: Record<string, string> = {};
    for (const [j, pl] of r.placements.entries()) roots[pl.relayId] = await digestRoot(digests[j]!);
    await commitRemote(link, r.fileId, roots, signal);

    const status = await statusRemote(link, r.fileId, signal);
    const tokens = new Map((await tokensRemote(link, r.fileId, 'get', signal)).tokens.map((t) => [t.relayId, t.token]));
    const readers = status.placements.slice(0, status.k).map((pl) => new RelayClient({ id: pl.relayId, name: pl.name, url: pl.url }, { token: () => tokens.get(pl.relayId) ?? '' }));
    const maxShare = shareChunkLength(Math.max(status.chunkSize, RECORD_BYTES));
    const rs = createRetrieveStream({ fileId: fileIdFromHex(r.fileId), epoch: status.epoch, k: status.k });
    const feeding = (async () => {
      const w = rs.writable.getWriter();
      for (let i = 0; i <= status.chunkCount; i++) await w.write({ index: i, shares: await Promise.all(readers.map((c) => c.get(r.fileId, i, maxShare, signal))) } satisfies ShareSet);
      await w.close();
    })();
    const back: Uint8Array[] = [];
    for await (const part of rs.readable) back.push(part);
    await feeding;
    const got = new Uint8Array(back.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const b of back) {
      got.set(b, at);
      at += b.length;
    }
    if (got.length !== data.length || got.some((b, i) => b !== data[i])) throw new ApiError('AUTH_FAILED', 'The other deployment gave back different bytes.', 0);
    return { bytes: size, relays: r.placements.length, k: r.k };
  } catch (err) {
    failure = err;
    throw err;
  } finally {
    // Whatever was placed at X is removed, after a failure too (X's sweep removes a reservation this misses).
    await removeRemote(link, r.fileId).catch((err: unknown) => {
      if (failure === undefined) throw err;
    });
  }
}
