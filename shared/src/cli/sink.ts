/**
 * Where `kofn retrieve` writes: standard output, or a file created next to its destination under a
 * temporary name (0600, exclusive) and renamed into place only after the last chunk authenticated, so a
 * failed or cancelled retrieval leaves no file and never a partial one under the real name.
 */
import { open, rename, rm, stat } from 'node:fs/promises';
import { randomHex } from '../random.js';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { KofnError } from '../errors.js';
import type { Sink } from './retrieve.js';

export async function fileSink(path: string, force: boolean): Promise<Sink> {
  if (!force) {
    const exists = await stat(path).then(
      () => true,
      () => false
    );
    if (exists) throw new KofnError('CLI_USAGE', `${path} already exists (use --force to replace it).`);
  }
  const tmp = join(dirname(path), `.${randomHex(6)}.kofn-partial`);
  let fh;
  try {
    fh = await open(tmp, 'wx', 0o600);
  } catch (err) {
    throw new KofnError('FILE_UNREADABLE', `Cannot write in ${dirname(path)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`);
  }
  const handle = fh;
  return {
    write: async (chunk) => {
      let off = 0;
      while (off < chunk.length) off += (await handle.write(chunk, off, chunk.length - off)).bytesWritten;
    },
    close: async () => {
      await handle.sync();
      await handle.close();
      await rename(tmp, path);
    },
    abort: async () => {
      await handle.close().catch(() => undefined);
      await rm(tmp, { force: true });
    }
  };
}

/** Standard output, with backpressure: a slow reader (`| tar x`) holds the retrieval, not memory. */
export function streamSink(out: Writable): Sink {
  const write = (chunk: Uint8Array) =>
    new Promise<void>((res, rej) => {
      // The callback runs once the bytes are handed to the OS, so the caller may reuse the buffer after.
      out.write(chunk, (err) => (err ? rej(err) : res()));
    });
  return {
    write: async (chunk) => {
      await write(chunk);
    },
    close: async () => undefined,
    abort: async () => undefined
  };
}
