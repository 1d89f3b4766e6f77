/**
 * The browser's protect and retrieve flows, run in Node against the coordinator's services and real relay
 * processes: reserve, split and PUT every share chunk, commit with digest roots; manifest, GET from k
 * relays, combine and authenticate.
 */
import { RelayClient, createProtectStream, createRetrieveStream, digestRoot, fileIdFromHex, shareChunkLength, type EncodedChunk, type ShareSet } from '@kofn/shared';
import { commitFile, manifest } from '../files.js';
import { replaceRelay, reserveFile } from '../reservations.js';
import type { Ctx } from '../file-access.js';

export interface Uploaded {
  fileId: string;
  placements: Array<{ relayId: string; url: string; x: number; token: string; groupX?: number }>;
  digests: Map<string, string[]>;
  chunks: EncodedChunk[];
}

/** Reserves and uploads; `skip` leaves one (relay, index) out to fake a lost chunk. */
export async function upload(
  ctx: Ctx,
  name: string,
  data: Uint8Array,
  k: number,
  opts: { relays?: string[]; skip?: [number, number]; folderId?: string; onConflict?: string; mode?: 'shamir' | 'compact'; encodeAs?: 'shamir' | 'compact' } = {}
): Promise<Uploaded> {
  const r = await reserveFile(ctx, {
    name,
    size: data.length,
    type: 'application/octet-stream',
    k,
    ...(opts.relays ? { relays: opts.relays } : {}),
    ...(opts.folderId ? { folderId: opts.folderId } : {}),
    ...(opts.onConflict ? { onConflict: opts.onConflict } : {}),
    ...(opts.mode ? { mode: opts.mode } : {})
  });
  // The record holds the name reserved (a "keep both" reservation answers another one).
  const p = await createProtectStream({
    k,
    xs: r.placements.map((pl) => pl.x),
    fileId: fileIdFromHex(r.fileId),
    file: { name: r.name ?? name, size: data.length, type: 'application/octet-stream', chunkSize: r.chunkSize },
    // Issue #23: encoded in the mode reserved, unless a test fakes a client that encodes otherwise.
    mode: opts.encodeAs ?? r.mode ?? 'shamir'
  });
  const writing = (async () => {
    const w = p.writable.getWriter();
    await w.write(data);
    await w.close();
  })();
  const digests = new Map(r.placements.map((pl) => [pl.relayId, [] as string[]]));
  const chunks: EncodedChunk[] = [];
  for await (const c of p.readable) {
    chunks.push(c);
    await Promise.all(
      r.placements.map(async (pl, j) => {
        if (opts.skip?.[0] === j && opts.skip[1] === c.index) return;
        // The same relay client as the browser and the coordinator (bounded, retried, errors naming the relay).
        const client = new RelayClient({ id: pl.relayId, name: pl.name, url: pl.url }, { token: () => pl.token });
        digests.get(pl.relayId)!.push((await client.put(r.fileId, c.index, new Uint8Array(c.shares[j]!))).digest);
      })
    );
  }
  await writing;
  return { fileId: r.fileId, placements: r.placements, digests, chunks };
}

export async function roots(u: Uploaded): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [relayId, d] of u.digests) out[relayId] = await digestRoot(d);
  return out;
}

export async function protect(
  ctx: Ctx,
  name: string,
  data: Uint8Array,
  k: number,
  relays?: string[],
  opts: { folderId?: string; onConflict?: string; mode?: 'shamir' | 'compact' } = {}
): Promise<string> {
  const u = await upload(ctx, name, data, k, { ...(relays ? { relays } : {}), ...opts });
  await commitFile(ctx, u.fileId, { roots: await roots(u) });
  return u.fileId;
}

export async function retrieve(ctx: Ctx, fileId: string): Promise<Uint8Array> {
  return retrieveWith(await manifest(ctx, fileId));
}

/**
 * Writes chunks 0..last into a retrieve stream's writable, each chunk's shares from `sharesOf`. A failed read
 * aborts the writable, so the readable the caller is draining fails with it (unaborted, the caller would wait
 * for the rest forever). A chunk failing authentication errors the readable and then the next write: that
 * second rejection is the same failure, reported through the readable, hence the catch.
 */
function feed(writable: WritableStream<ShareSet>, last: number, sharesOf: (index: number) => Promise<Uint8Array[]>): Promise<void> {
  const feeding = (async () => {
    const w = writable.getWriter();
    try {
      for (let i = 0; i <= last; i++) await w.write({ index: i, shares: await sharesOf(i) });
      await w.close();
    } catch (err) {
      await w.abort(err).catch(() => undefined);
      throw err;
    }
  })();
  feeding.catch(() => undefined);
  return feeding;
}

/** Rebuilds a file from a manifest with its tokens, however it was obtained (a share link's, for one). */
export async function retrieveWith(m: Awaited<ReturnType<typeof manifest>>): Promise<Uint8Array> {
  const fileId = m.fileId;
  const use = m.placements.slice(0, m.k).map((p) => ({ p, client: new RelayClient({ id: p.relayId, name: p.name, url: p.url }, { token: () => p.token }) }));
  // Chunk 0 (the metadata record) is at most 1340 bytes of data; data chunks at most chunkSize.
  const maxShare = shareChunkLength(Math.max(m.chunkSize, 1340));
  const r = createRetrieveStream({ fileId: fileIdFromHex(fileId), epoch: m.epoch, k: m.k });
  const feeding = feed(r.writable, m.chunkCount, (i) => Promise.all(use.map(({ client }) => client.get(fileId, i, maxShare))));
  const parts: Uint8Array[] = [];
  for await (const part of r.readable) parts.push(part);
  await feeding;
  return Buffer.concat(parts);
}

/**
 * Issue #21: reserves a tree file with `layout` and uploads every relay's sub-share (shares come out of
 * the protect stream in the order of the reservation's placements, which is treeRelays order).
 */
export async function uploadTree(ctx: Ctx, name: string, data: Uint8Array, layout: unknown, opts: { replace?: string } = {}): Promise<Uploaded> {
  const r = await reserveFile(ctx, { name, size: data.length, type: 'application/octet-stream', layout });
  // A relay that failed before the upload began (the browser's failover, engine/protect.ts): its spare takes
  // its place and x, and the file is split for the new set.
  if (opts.replace !== undefined) {
    const swap = await replaceRelay(ctx, r.fileId, { relayId: opts.replace });
    r.placements = r.placements.map((p) => (p.relayId === opts.replace ? swap.placement : p));
  }
  const tree = r.layout;
  if (!tree) throw new Error('a tree reservation answers its layout');
  const p = await createProtectStream({
    k: tree.k,
    xs: [],
    tree,
    fileId: fileIdFromHex(r.fileId),
    file: { name: r.name ?? name, size: data.length, type: 'application/octet-stream', chunkSize: r.chunkSize }
  });
  const writing = (async () => {
    const w = p.writable.getWriter();
    await w.write(data);
    await w.close();
  })();
  const digests = new Map(r.placements.map((pl) => [pl.relayId, [] as string[]]));
  const chunks: EncodedChunk[] = [];
  for await (const c of p.readable) {
    chunks.push(c);
    await Promise.all(
      r.placements.map(async (pl, j) => {
        const client = new RelayClient({ id: pl.relayId, name: pl.name, url: pl.url }, { token: () => pl.token });
        digests.get(pl.relayId)!.push((await client.put(r.fileId, c.index, new Uint8Array(c.shares[j]!))).digest);
      })
    );
  }
  await writing;
  return { fileId: r.fileId, placements: r.placements, digests, chunks };
}

/** Issue #21: rebuilds a tree file from the relays named in `use` (relay ids) only. */
export async function retrieveTree(ctx: Ctx, fileId: string, use: readonly string[]): Promise<Uint8Array> {
  const m = await manifest(ctx, fileId);
  const clients = m.placements.filter((p) => use.includes(p.relayId)).map((p) => new RelayClient({ id: p.relayId, name: p.name, url: p.url }, { token: () => p.token }));
  const maxShare = shareChunkLength(Math.max(m.chunkSize, 1340));
  const r = createRetrieveStream({ fileId: fileIdFromHex(fileId), epoch: m.epoch, k: m.k, tree: true });
  const feeding = feed(r.writable, m.chunkCount, (i) => Promise.all(clients.map((client) => client.get(fileId, i, maxShare))));
  const parts: Uint8Array[] = [];
  for await (const part of r.readable) parts.push(part);
  await feeding;
  return Buffer.concat(parts);
}
