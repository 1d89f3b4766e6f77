/**
 * The browser's protect and retrieve flows, run in Node against the coordinator's services and real relay
 * processes: reserve, split and PUT every share chunk, commit with digest roots; manifest, GET from k
 * relays, combine and authenticate.
 */
import { createProtectStream, createRetrieveStream, digestRoot, fileIdFromHex, type EncodedChunk, type ShareSet } from '@kofn/shared';
import { commitFile, manifest, reserveFile, type Ctx } from '../files.js';

export interface Uploaded {
  fileId: string;
  placements: Array<{ relayId: string; url: string; x: number; token: string }>;
  digests: Map<string, string[]>;
  chunks: EncodedChunk[];
}

/** Reserves and uploads; `skip` leaves one (relay, index) out to fake a lost chunk. */
export async function upload(ctx: Ctx, name: string, data: Uint8Array, k: number, opts: { relays?: string[]; skip?: [number, number] } = {}): Promise<Uploaded> {
  const r = await reserveFile(ctx, { name, size: data.length, type: 'application/octet-stream', k, ...(opts.relays ? { relays: opts.relays } : {}) });
  const p = await createProtectStream({ k, xs: r.placements.map((pl) => pl.x), fileId: fileIdFromHex(r.fileId), file: { name, size: data.length, type: 'application/octet-stream', chunkSize: r.chunkSize } });
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
        if (opts.skip && opts.skip[0] === j && opts.skip[1] === c.index) return;
        const res = await fetch(`${pl.url}/v1/files/${r.fileId}/chunks/${c.index}`, { method: 'PUT', body: c.shares[j], headers: { Authorization: `Bearer ${pl.token}` } });
        if (res.status !== 201) throw new Error(`PUT ${res.status} ${await res.text()}`);
        digests.get(pl.relayId)!.push(((await res.json()) as { digest: string }).digest);
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

export async function protect(ctx: Ctx, name: string, data: Uint8Array, k: number, relays?: string[]): Promise<string> {
  const u = await upload(ctx, name, data, k, relays ? { relays } : {});
  await commitFile(ctx, u.fileId, { roots: await roots(u) });
  return u.fileId;
}

export async function retrieve(ctx: Ctx, fileId: string): Promise<Uint8Array> {
  const m = await manifest(ctx, fileId);
  const use = m.placements.slice(0, m.k);
  const r = createRetrieveStream({ fileId: fileIdFromHex(fileId), epoch: m.epoch, k: m.k });
  const feeding = (async () => {
    const w = r.writable.getWriter();
    for (let i = 0; i <= m.chunkCount; i++) {
      const shares = await Promise.all(
        use.map(async (p) => new Uint8Array(await (await fetch(`${p.url}/v1/files/${fileId}/chunks/${i}`, { headers: { Authorization: `Bearer ${p.token}` } })).arrayBuffer()))
      );
      await w.write({ index: i, shares } satisfies ShareSet);
    }
    await w.close();
  })();
  const parts: Uint8Array[] = [];
  for await (const part of r.readable) parts.push(part);
  await feeding;
  return Buffer.concat(parts);
}
