/**
 * Where `kofn retrieve` writes: standard output, or a file created next to its destination under a
 * hidden partial name (0600) and renamed into place only after the last chunk authenticated, so a failed or
 * cancelled retrieval never leaves a partial file under the real name; one cut by the network (or a kill)
 * leaves the hidden part for the same command to continue.
 */
import { constants } from 'node:fs';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { randomHex } from '../random.js';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { KofnError } from '../errors.js';
import type { Sink } from './retrieve.js';

/**
 * `fileId` and `chunkSize` name and size the partial file: `.<name>.<fileId>.kofn-partial` beside the
 * destination, so the same command run again finds it (issue #20, resumable retrieve), and only ever for
 * the same file (ids are never reused, and a file's content never changes under its id). Every byte in it
 * was authenticated before it was written; what follows the last whole chunk (a write cut by the kill) is
 * cut off and fetched again.
 */
export async function fileSink(path: string, force: boolean, resume?: { fileId: string; chunkSize: number }): Promise<Sink> {
  if (!force) {
    const exists = await stat(path).then(
      () => true,
      () => false
    );
    if (exists) throw new KofnError('CLI_USAGE', `${path} already exists (use --force to replace it).`);
  }
  const tmp = resume ? join(dirname(path), `.${basename(path)}.${resume.fileId}.kofn-partial`) : join(dirname(path), `.${randomHex(6)}.kofn-partial`);
  let fh: FileHandle;
  let resumeAt = 0;
  try {
    fh = await open(tmp, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST' || !resume) throw new KofnError('FILE_UNREADABLE', `Cannot write in ${dirname(path)}: ${code ?? 'error'}.`);
    // O_NOFOLLOW: the partial file is ours, never a link someone put there to make us write elsewhere.
    fh = await open(tmp, constants.O_RDWR | constants.O_NOFOLLOW).catch((e: unknown) => {
      throw new KofnError('FILE_UNREADABLE', `Cannot continue ${tmp}: ${(e as NodeJS.ErrnoException).code ?? 'error'}.`);
    });
    const st = await fh.stat();
    if (!st.isFile() || (st.mode & 0o077) !== 0) {
      await fh.close();
      throw new KofnError('FILE_UNREADABLE', `${tmp} is not a private file of an interrupted retrieval; remove it and run again.`);
    }
    resumeAt = st.size - (st.size % resume.chunkSize);
    await fh.truncate(resumeAt);
  }
  const handle = fh;
  let position = resumeAt;
  return {
    resumeAt,
    write: async (chunk) => {
      let off = 0;
      while (off < chunk.length) {
        const n = (await handle.write(chunk, off, chunk.length - off, position)).bytesWritten;
        off += n;
        position += n;
      }
    },
    close: async () => {
      await handle.sync();
      await handle.close();
      await rename(tmp, path);
    },
    abort: async (keep) => {
      await handle.close().catch(() => undefined);
      if (!keep || !resume) await rm(tmp, { force: true });
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
