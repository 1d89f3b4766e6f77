/**
 * A folder or a selection saved as one ZIP built in this browser (issue #18), with client-zip: entries are
 * stored, not compressed (most files people keep are compressed already, and the archive streams with a
 * known size per entry), ZIP64 when an entry or the archive passes 4 GiB, and one pass with no look-back.
 *
 * Each file is retrieved by retrieveFile (retrieve.ts) into an entry stream: a chunk's plaintext enters the
 * zip only after that chunk authenticated, exactly as it reaches a single file's sink, and the entry's name
 * and size come from the file's authenticated metadata record. A file that fails (authentication, a
 * truncated stream, servers offline) aborts the whole zip and its sink — the same save path as single files
 * (a picked file is removed, a streamed download fails), so no partial plaintext of it is kept.
 *
 * Memory stays flat: every stage waits for the one after it. The entry stream holds at most one chunk, the
 * zip is read only as fast as the sink writes, and one file is retrieved at a time.
 */
import type { RetrieveError, RetrieveOptions, RetrieveResult, SavedFile, Sink, SinkFor } from './retrieve';
import { retrieveFile } from './retrieve';
import { safeFileName } from './sinks';

/** What goes into a zip: folders (their path in the zip, so empty ones are kept) and files (their folder's path). */
export type ZipItem = { kind: 'folder'; path: string[] } | { kind: 'file'; id: string; name: string; size: number; dir: string[]; modifiedAt?: string };

export interface ZipOptions extends Pick<RetrieveOptions, 'signal' | 'relayTimeouts'> {
  /** Plaintext bytes put into the zip so far, of every file. */
  onProgress?: (done: number) => void;
  /** Each file's retrieval, once it finished or failed (the history entry). */
  onFile?: (item: Extract<ZipItem, { kind: 'file' }>, outcome: { ok: true; result: RetrieveResult } | { ok: false; error: unknown }) => void;
}

/** The failure of one file, which failed the zip: its error, and where it was in the zip. */
export interface ZipFileError extends RetrieveError {
  fileId: string;
  path: string;
}

/** A folder path in the zip: each name made safe to save as safeFileName makes file names. */
const dirPath = (dir: string[]) => dir.map(safeFileName).join('/');

/**
 * Entry names, each used once: two names that safeFileName makes equal ("a:b" and "a_b"), or a file
 * renamed meanwhile to a name in the zip, become "name (2).ext" rather than two entries of one path.
 */
export class ZipNames {
  #used = new Set<string>();

  take(dir: string[], name: string, folder = false): string {
    const prefix = dir.length ? `${dirPath(dir)}/` : '';
    const dot = folder ? -1 : name.lastIndexOf('.');
    const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    for (let i = 1; ; i++) {
      const candidate = `${prefix}${i === 1 ? name : `${stem} (${i})${ext}`}`;
      // Case-folded: extracted on a case-insensitive disk, "A.txt" and "a.txt" would overwrite each other.
      const key = candidate.toLowerCase();
      if (!this.#used.has(key)) {
        this.#used.add(key);
        return candidate;
      }
    }
  }
}

/**
 * One file's entry: a sink for retrieveFile whose chunks come out of `readable` for the zip. A write
 * settles once the zip took the chunk (readable high-water mark 0), so at most one chunk waits here.
 * `onAbort` hears an abort before the zip does (the retrieval failing, or the zip stopping it).
 */
function entryStream(onAbort: () => void): { readable: ReadableStream<Uint8Array>; sink: Sink } {
  const ts = new TransformStream<Uint8Array, Uint8Array>(undefined, { highWaterMark: 1 }, { highWaterMark: 0 });
  const writer = ts.writable.getWriter();
  return {
    readable: ts.readable,
    sink: {
      write: async (chunk) => {
        await writer.ready;
        // A copy: retrieveFile reuses the chunk's buffer once the write settles (Sink.write).
        await writer.write(chunk.slice());
      },
      close: () => writer.close(),
      abort: (reason) => {
        onAbort();
        return writer.abort(reason);
      }
    }
  };
}

function codeOf(err: unknown): string {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : 'INTERNAL';
}

/**
 * Retrieves `items` into one zip written to `out`, in order. Resolves when `out` closed; on any failure
 * `out` is aborted and the failing file's error is thrown as a ZipFileError (a cancellation as it is).
 */
export async function retrieveZip(items: ZipItem[], out: Sink, opts: ZipOptions = {}): Promise<void> {
  // Loaded here, in the browser only: the server never builds zips (client-zip is a browser module).
  const { makeZip } = await import('client-zip');
  const stop = new AbortController();
  const onAbort = () => stop.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const names = new ZipNames();
  /** The file that failed the zip, if one did (not: the zip stopped it, or the person cancelled). */
  let failure: ZipFileError | undefined;
  /** Set once the zip stops on its own (the saved file could not be written): later file errors follow from it. */
  let stopping = false;
  /** The file being retrieved: its entry, and its retrieval settled with its outcome reported. */
  let current: { sink: Sink; settled: Promise<void>; failedItself: boolean } | undefined;
  let before = 0;

  async function* entries() {
    for (const item of items) {
      // Cancelled before the zip began (while its contents were listed), or stopped since.
      opts.signal?.throwIfAborted();
      stop.signal.throwIfAborted();
      if (item.kind === 'folder') {
        yield { name: names.take(item.path.slice(0, -1), item.path[item.path.length - 1]!, true) };
        continue;
      }
      let path = [...item.dir, item.name].join('/');
      const state: { failedItself: boolean } = { failedItself: false };
      const entry = entryStream(() => (state.failedItself ||= !stopping));
      let opened: (file: SavedFile) => void = () => undefined;
      const named = new Promise<SavedFile>((res) => (opened = res));
      const sinkFor: SinkFor = async (file) => {
        opened(file);
        return entry.sink;
      };
      const start = before;
      const retrieval = retrieveFile(item.id, sinkFor, {
        signal: stop.signal,
        relayTimeouts: opts.relayTimeouts,
        onProgress: (done) => opts.onProgress?.(start + done)
      });
      const settled = retrieval.then(
        (result) => opts.onFile?.(item, { ok: true, result }),
        (error: unknown) => {
          opts.onFile?.(item, { ok: false, error });
          if (opts.signal?.aborted || (stopping && !state.failedItself) || failure) return;
          const e = error as Partial<RetrieveError> | null;
          failure = {
            code: codeOf(error),
            message: typeof e?.message === 'string' ? e.message : String(error),
            badRelays: e?.badRelays ?? [],
            unreachable: e?.unreachable ?? [],
            fileId: item.id,
            path
          };
        }
      );
      current = {
        sink: entry.sink,
        settled,
        get failedItself() {
          return state.failedItself;
        }
      };
      // The entry is named from the authenticated record; a file failing before it has one fails the zip here.
      const file = await Promise.race([named, retrieval.then(() => named)]);
      path = names.take(item.dir, file.name);
      yield { name: path, input: entry.readable, size: file.size, lastModified: item.modifiedAt ? new Date(item.modifiedAt) : undefined };
      // The zip read the entry to its end: the retrieval has closed it, or failed.
      await retrieval;
      current = undefined;
      before += file.size;
    }
  }

  const reader = makeZip(entries(), { buffersAreUTF8: true }).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await out.write(value);
    }
    await out.close();
  } catch (err) {
    const now = current;
    // A file that failed by itself ends on its own; otherwise stop it (its workers, its pending write).
    if (!now?.failedItself) {
      stopping = true;
      stop.abort(err);
      await now?.sink.abort(err).catch(() => undefined);
    }
    await now?.settled;
    await reader.cancel(err).catch(() => undefined);
    const reason: unknown = opts.signal?.aborted ? opts.signal.reason : (failure ?? err);
    await out.abort(reason).catch(() => undefined);
    throw reason;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
