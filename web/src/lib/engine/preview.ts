/**
 * Previews (issue #18): a file retrieved into memory, never to disk, and shown in the page. Same path as a
 * download (retrieve.ts): the metadata record is rebuilt and authenticated before anything else, and each
 * chunk's plaintext reaches the memory sink only after that chunk authenticated. An image, a PDF, audio
 * or video is shown only once the whole file has (the final chunk's flag included), so a truncated file
 * never shows, and a media element never plays bytes that have not authenticated;
 * text shows its first TEXT_LIMIT bytes, each of them authenticated, and retrieval stops there.
 *
 * What is shown is decided from the authenticated record's name, not the coordinator's word: the
 * coordinator's name only decides whether a Preview button is offered. No SVG or HTML: those run script.
 */
import { KofnError, type RelayTimeouts } from '@kofn/shared';
import { retrieveFile, type SavedFile, type Sink } from './retrieve';
import { previewKind, type PreviewKind } from './preview-kind';

export { previewKind, type PreviewKind };

/**
 * Largest file previewed (plaintext size) unless the administrator set another (server/preview-limit.ts);
 * a bigger one is offered as a download instead. The whole file is held in the page's memory while shown.
 */
export const DEFAULT_PREVIEW_LIMIT = 64 * 1024 * 1024;
/** Text shows at most this much of its start. */
export const TEXT_LIMIT = 256 * 1024;

export type Preview = { kind: 'image' | 'pdf' | 'audio' | 'video'; name: string; size: number; blob: Blob } | { kind: 'text'; name: string; size: number; text: string; truncated: boolean };

export interface PreviewOptions {
  signal?: AbortSignal;
  /** Largest plaintext previewed, bytes (the administrator's setting); DEFAULT_PREVIEW_LIMIT if absent. */
  limit?: number;
  relayTimeouts?: Partial<RelayTimeouts>;
}

const tooBig = (size: number, limit: number) =>
  new KofnError('FILE_TOO_BIG', `Previews show files up to ${+(limit / 1024 / 1024).toFixed(1)} MiB; this one has ${(size / 1024 / 1024).toFixed(1)} MiB. Retrieve it instead.`);
const notPreviewable = () => new KofnError('INVALID_ARGUMENT', 'This kind of file has no preview. Retrieve it instead.');

/** The text's start stopped the retrieval: not a failure. */
const ENOUGH = new KofnError('CANCELLED', 'The start of the text is here.');

/**
 * Retrieves `file` into memory for a preview. `file` is the coordinator's view (its size is checked
 * first, so a too-big file costs no transfer); the authenticated record's name and size decide after.
 */
export async function retrievePreview(file: { id: string; name: string; size: number; type: string }, opts: PreviewOptions = {}): Promise<Preview> {
  const limit = opts.limit ?? DEFAULT_PREVIEW_LIMIT;
  if (!previewKind(file.name, file.type)) throw notPreviewable();
  if (file.size > limit) throw tooBig(file.size, limit);
  const parts: Uint8Array[] = [];
  let got = 0;
  // Set by the sink once the metadata record authenticated (a holder: TypeScript cannot see the callback set it).
  // `enough`: the text's start is in and the retrieval was stopped on purpose.
  const found: { record?: SavedFile & { kind: PreviewKind }; enough: boolean } = { enough: false };
  const stop = new AbortController();
  const cancel = () => stop.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', cancel, { once: true });
  const sinkFor = async (saved: SavedFile): Promise<Sink> => {
    const kind = previewKind(saved.name);
    if (!kind) throw notPreviewable();
    if (saved.size > limit) throw tooBig(saved.size, limit);
    found.record = { ...saved, kind };
    return {
      async write(chunk) {
        const room = (kind.kind === 'text' ? TEXT_LIMIT : limit) - got;
        if (room <= 0) return;
        // A copy: the caller reuses the chunk's buffer once this settles (retrieve.ts Sink).
        const copy = chunk.slice(0, room);
        parts.push(copy);
        got += copy.length;
        if (kind.kind === 'text' && got >= TEXT_LIMIT && !found.enough) {
          found.enough = true;
          stop.abort(ENOUGH);
        }
      },
      close: () => Promise.resolve(),
      async abort() {
        if (!found.enough) parts.length = 0;
      }
    };
  };
  try {
    await retrieveFile(file.id, sinkFor, { signal: stop.signal, ...(opts.relayTimeouts ? { relayTimeouts: opts.relayTimeouts } : {}) });
  } catch (err) {
    if (!found.enough) throw err;
  } finally {
    opts.signal?.removeEventListener('abort', cancel);
  }
  const record = found.record;
  if (!record) throw notPreviewable();
  if (record.kind.kind === 'text') {
    // fatal: false: a cut in the middle of a UTF-8 sequence shows one replacement character, not an error.
    const text = new TextDecoder('utf-8', { fatal: false }).decode(await new Blob(parts as BlobPart[]).arrayBuffer());
    return { kind: 'text', name: record.name, size: record.size, text, truncated: record.size > got };
  }
  return { kind: record.kind.kind, name: record.name, size: record.size, blob: new Blob(parts as BlobPart[], { type: record.kind.mime }) };
}
