/** Builds real share chunks (header + body) for relay tests. */
import { HEADER_BYTES, FLAG_FINAL, FLAG_METADATA, fileIdFromHex, randomBytes, writeHeader } from '@kofn/shared';

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
