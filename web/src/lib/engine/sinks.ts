/**
 * Where retrieved plaintext goes, as a stream: the File System Access API where the browser has it
 * (the file is written through a swap file and appears only on close, so an aborted retrieval leaves no
 * partial file); otherwise the service worker's streamed download; otherwise, for small files only, a Blob.
 */
import { KofnError } from '@kofn/shared';
import type { Sink, SinkFor } from './retrieve';
import { randomUuid } from '@kofn/shared';

/**
 * A file name safe to save under, from a retrieved file's authenticated metadata record (whose author may be
 * another user who shared the file): no path separators, control or format characters, or characters
 * Windows refuses (<>:"|?*); no leading dots (hidden files, "..") or trailing dots and spaces; at most 255
 * UTF-16 units; "download" when nothing is left. Browsers clean names too; this does not rely on them.
 */
export function safeFileName(name: string): string {
  let out = name.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}/\\<>:"|?*]/gu, '_').trim();
  out = out.replace(/^\.+/, (dots) => '_'.repeat(dots.length)).replace(/[. ]+$/, '');
  if (out.length > 255) out = out.slice(0, 255);
  return out.length > 0 ? out : 'download';
}

/** Largest file kept whole in memory as a Blob when no streaming way to disk exists. */
export const BLOB_LIMIT = 256 * 1024 * 1024;

type WritableHandle = FileSystemFileHandle & { createWritable: () => Promise<FileSystemWritableFileStream>; remove?: () => Promise<void> };

interface SaveFilePickerWindow {
  showSaveFilePicker?: (opts: { suggestedName: string }) => Promise<WritableHandle>;
}

export function canPickFile(): boolean {
  return typeof (window as unknown as SaveFilePickerWindow).showSaveFilePicker === 'function';
}

/** Must be called from the click that asked for the file (the picker needs user activation). */
export async function pickFileSink(name: string): Promise<Sink> {
  const w = window as unknown as SaveFilePickerWindow;
  // Callers ask canPickFile() first; this is the check the types need.
  if (!w.showSaveFilePicker) throw new KofnError('INTERNAL', 'This browser cannot pick a file to save into.');
  const handle = await w.showSaveFilePicker({ suggestedName: name });
  const writable = await handle.createWritable();
  return {
    write: (chunk) => writable.write(chunk as Uint8Array<ArrayBuffer>),
    close: () => writable.close(),
    abort: async (reason) => {
      await writable.abort(reason);
      // The picker already created an empty file: take it away too, so a failed retrieval leaves nothing.
      await handle.remove?.().catch(() => undefined);
    }
  };
}

/**
 * Streams through the service worker to a normal browser download (kept alive by the stream itself).
 * `size` undefined: not known ahead (a zip), so the download has no Content-Length.
 */
export async function serviceWorkerSink(name: string, size: number | undefined, type: string): Promise<Sink | undefined> {
  // navigator.serviceWorker exists only in secure contexts, which the DOM types do not say.
  if (!('serviceWorker' in navigator)) return undefined;
  const reg = await navigator.serviceWorker.getRegistration();
  const sw = reg?.active;
  if (!sw || !navigator.serviceWorker.controller) return undefined;
  const id = randomUuid();
  const channel = new MessageChannel();
  const ready = new Promise<void>((res) => {
    channel.port1.onmessage = (e) => {
      if ((e.data as { type?: string }).type === 'ready') res();
    };
  });
  sw.postMessage({ type: 'download', id, name, size, mime: type || 'application/octet-stream' }, [channel.port2]);
  await ready;
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.src = `/__kofn_download/${id}`;
  document.body.appendChild(frame);
  setTimeout(() => frame.remove(), 60_000);
  // Keep the service worker awake while the download streams (browsers stop idle workers).
  const keepAlive = setInterval(() => channel.port1.postMessage({ type: 'keepalive' }), 10_000);
  return {
    write: async (chunk) => {
      const copy = chunk.slice();
      channel.port1.postMessage({ type: 'chunk', chunk: copy }, [copy.buffer]);
    },
    close: async () => {
      clearInterval(keepAlive);
      channel.port1.postMessage({ type: 'end' });
    },
    abort: async () => {
      clearInterval(keepAlive);
      channel.port1.postMessage({ type: 'abort' });
    }
  };
}

export function blobSink(name: string, size: number, type: string): Sink {
  if (size > BLOB_LIMIT) {
    throw new KofnError('PAYLOAD_TOO_LARGE', `This browser cannot stream to disk; files over ${BLOB_LIMIT / 2 ** 20} MiB need a browser with the File System Access API or service workers.`);
  }
  const parts: Blob[] = [];
  return {
    write: async (chunk) => {
      // A Blob of each chunk copies it at once: the caller reuses the chunk's buffer (Sink.write).
      parts.push(new Blob([chunk as Uint8Array<ArrayBuffer>]));
    },
    close: async () => {
      const url = URL.createObjectURL(new Blob(parts, { type: type || 'application/octet-stream' }));
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    abort: async () => {
      parts.length = 0;
    }
  };
}

/**
 * A sink that keeps nothing: for checking a file (the owner's browser authenticating a repaired share,
 * verify-repair.ts), where only whether every chunk authenticates matters. Nothing is copied or written;
 * retrieve.ts zeroes the chunk buffers it handed here once they are written.
 */
export function discardSink(): Sink & { written: () => number } {
  let bytes = 0;
  return {
    write: async (chunk) => {
      bytes += chunk.byteLength;
    },
    close: async () => undefined,
    abort: async () => undefined,
    written: () => bytes
  };
}

/** `discardSink` where retrieval asks for a sink once the file's metadata record authenticated. */
export const discardSinkFor: SinkFor = async () => discardSink();
