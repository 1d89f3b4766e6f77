/**
 * What `kofn protect` reads: a file (its size from stat) or standard input. The coordinator reserves a
 * file by its size and the metadata record fixes it (api.md "Reserve"; format.md), so stdin of unknown
 * length is first copied to a private temporary file (folder 0700, file 0600, removed afterwards), unless
 * `--size` says how long it is; the encoder then refuses a stream of any other length.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { addAbortSignal, type Readable } from 'node:stream';
import { KofnError } from '../errors.js';

export interface Source {
  name: string;
  size: number;
  /** The user's file, when it is one (not standard input, not its temporary copy): what a resumed upload is found by. */
  path?: string;
  /** Whether open() may be called again (a file), so an upload can start over after a relay failed. */
  rereadable: boolean;
  /** The bytes, from `start`; `signal` ends the read (Ctrl-C while waiting on a pipe). */
  open(start?: number, signal?: AbortSignal): AsyncIterable<Uint8Array>;
  /** Removes a temporary copy, if any. */
  dispose(): Promise<void>;
}

export async function fileSource(path: string, name?: string): Promise<Source> {
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new KofnError('FILE_UNREADABLE', `${path} is not a regular file.`);
    size = st.size;
    // Open once now, so an unreadable file fails before anything is reserved.
    await new Promise<void>((res, rej) => {
      const s = createReadStream(path, { start: 0, end: 0 });
      s.once('open', () => {
        s.destroy();
        res();
      });
      s.once('error', rej);
    });
  } catch (err) {
    if (err instanceof KofnError) throw err;
    throw unreadable(path, err);
  }
  return {
    name: name ?? basename(path),
    path,
    size,
    rereadable: true,
    open: (start = 0, signal?: AbortSignal) => createReadStream(path, { start, highWaterMark: 1024 * 1024, ...(signal ? { signal } : {}) }),
    dispose: async () => undefined
  };
}

/** Standard input: streamed as is with `size`, else copied to a private temporary file first. */
export async function stdinSource(stdin: Readable, name: string, size?: number): Promise<Source> {
  if (size !== undefined) {
    let opened = false;
    return {
      name,
      size,
      rereadable: false,
      open: (start = 0, signal?: AbortSignal) => {
        if (opened || start !== 0) throw new KofnError('CLI_USAGE', 'Standard input can be read only once.');
        opened = true;
        return signal ? addAbortSignal(signal, stdin) : stdin;
      },
      dispose: async () => undefined
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'kofn-stdin-'));
  const path = join(dir, 'input');
  try {
    await pipeline(stdin, createWriteStream(path, { mode: 0o600 }));
    const src = await fileSource(path, name);
    // No path: a copy of a pipe is not the same input next time, so it is never resumed.
    return { ...src, path: undefined, dispose: () => rm(dir, { recursive: true, force: true }) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

function unreadable(path: string, err: unknown): KofnError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'is a folder' : (code ?? 'cannot be read');
  return new KofnError('FILE_UNREADABLE', `${path}: ${why}.`);
}
