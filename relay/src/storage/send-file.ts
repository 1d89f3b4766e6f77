/**
 * Sends a stored chunk's bytes from its open file to a Node writable (a GET's ServerResponse) through two
 * reusable blocks (block-pool.ts): while one block is on its way to the socket, the next is read into the
 * other. No Buffer is allocated per read and no stream sits between file and socket.
 *
 * Why not `pipeline(createReadStream(...), res)` (what this replaces): the read stream allocates a fresh
 * Buffer per read, and under 16 concurrent GETs those buffers lived long enough to be promoted and then
 * needed full mark-compacts to free (block-pool.ts). Here a block goes back to the reader only when the
 * socket's write callback says it was written, which is also the backpressure: at most two blocks per
 * answer are ever queued, whatever the client's reading speed.
 *
 * A write callback is not guaranteed once the socket is gone (node lib/_http_outgoing.js `_writeRaw`
 * drops writes to a destroyed socket silently), so the answer's 'close' ends the loop; a block whose write
 * never completed is then left to the garbage collector rather than reused.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { BLOCK_BYTES, giveBlock, takeBlock } from './block-pool.js';

class Gone extends Error {
  constructor() {
    super('the client went away before the answer was sent');
  }
}

interface Slot {
  block: Buffer;
  /** Settles when the block's last write has completed (resolved) or failed (rejected). */
  free: Promise<void>;
}

/** Writes `bytes` and resolves on its write callback. The promise is marked handled: slots await it later. */
function write(out: Writable, bytes: Buffer): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    out.write(bytes, (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
  done.catch(() => undefined);
  return done;
}

/**
 * Sends `size` bytes of `file` to `out`, then ends `out`. On a read error, a short file or a client gone,
 * destroys `out` (the client sees a short body, never a wrong one) and rejects. Never closes `file`.
 */
export async function sendFile(file: FileHandle, size: number, out: Writable): Promise<void> {
  let onClose: () => void = () => undefined;
  const closed = new Promise<never>((_, reject) => {
    onClose = () => reject(new Gone());
  });
  closed.catch(() => undefined);
  out.once('close', onClose);
  const slots: Slot[] = [
    { block: takeBlock(), free: Promise.resolve() },
    { block: takeBlock(), free: Promise.resolve() }
  ];
  try {
    let pos = 0;
    for (let i = 0; pos < size; i ^= 1) {
      const slot = slots[i]!;
      await Promise.race([slot.free, closed]);
      const { bytesRead } = await file.read(slot.block, 0, Math.min(BLOCK_BYTES, size - pos), pos);
      if (bytesRead === 0) throw new Error('the chunk file is shorter than its recorded size');
      pos += bytesRead;
      slot.free = write(out, slot.block.subarray(0, bytesRead));
    }
    await Promise.race([Promise.all(slots.map((s) => s.free)), closed]);
    out.end();
  } catch (err) {
    out.destroy();
    throw err;
  } finally {
    out.off('close', onClose);
    // Reused only once its write is over; a write that never reports back keeps its block.
    for (const s of slots) {
      s.free.then(
        () => giveBlock(s.block),
        () => giveBlock(s.block)
      );
    }
  }
}
