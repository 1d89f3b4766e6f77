/** Builds real share chunks (header + body) for relay tests, and puts them into a store as a PUT would. */
import { HEADER_BYTES, FLAG_FINAL, FLAG_METADATA, fileIdFromHex, randomBytes, writeHeader } from '@kofn/shared';
import { ingest } from '../storage/ingest.js';
import type { ChunkStore, Spooled } from '../storage/types.js';

export { newFileId } from '@kofn/shared';

export function shareChunk(fileId: string, index: number, bodyLength = 100, fill?: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(HEADER_BYTES + bodyLength);
  writeHeader(out, {
    flags: index === 0 ? FLAG_METADATA : FLAG_FINAL,
    x: 1,
    k: 2,
    fileId: fileIdFromHex(fileId),
    index,
    epoch: 0,
    bodyLength
  });
  if (fill === undefined) out.set(randomBytes(bodyLength), HEADER_BYTES);
  else out.fill(fill, HEADER_BYTES);
  return out;
}

/** `bytes` spooled into `store`'s spool folder as a PUT's body is (counted, hashed, header checked), ready to commit. */
export function spoolChunk(store: Pick<ChunkStore, 'spoolDir'>, fileId: string, index: number, bytes: Uint8Array): Promise<Spooled> {
  const body = (async function* () {
    yield bytes;
  })();
  return ingest(body, { spoolDir: store.spoolDir, maxBytes: 1 << 20, fileId, index });
}

/**
 * Stores a fresh share chunk of `fileId` straight into `store` under the storage id `id` (a renewed epoch's,
 * say, or the file's own), without a route or a token; answers its bytes.
 */
export async function storeChunkAt(store: ChunkStore, id: string, fileId: string, index: number, bodyLength = 20): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = shareChunk(fileId, index, bodyLength);
  await store.commit(id, index, await spoolChunk(store, fileId, index, bytes));
  return bytes;
}
