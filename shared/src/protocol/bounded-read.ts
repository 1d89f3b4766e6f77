/**
 * Reads a whole body of at most `maxBytes`, counting as bytes arrive (a Content-Length may lie) and
 * cancelling the stream one byte past the bound: every party reads another party's answer through this
 * (the relay client, the coordinator's request bodies, a relay reading the coordinator's answers), so no
 * peer can make another buffer more than it expects (issue #13 items 4 and 6).
 */
export async function readBounded(body: ReadableStream<Uint8Array> | null, maxBytes: number, tooLarge: () => Error, onProgress?: () => void): Promise<Uint8Array<ArrayBuffer>> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    onProgress?.();
    length += value.byteLength;
    if (length > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    parts.push(value);
  }
  // One piece that fills its own buffer is the answer as it is: no copy.
  if (parts.length === 1 && parts[0]!.byteOffset === 0 && parts[0]!.byteLength === parts[0]!.buffer.byteLength) return parts[0] as Uint8Array<ArrayBuffer>;
  const out = new Uint8Array(length);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
