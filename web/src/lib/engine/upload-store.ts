/**
 * Upload state kept in IndexedDB (idb) so a reload, a lost connection or a relay restart resumes an
 * upload where it stopped: the File itself (browsers keep a File stored in IndexedDB readable), the
 * reservation, the file's MAC key (it must stay the one inside the already stored metadata chunk; it lives
 * only in this browser, like the plaintext), how far every relay has acknowledged, and the digests relays
 * returned. Removed once the upload is committed or cancelled.
 */
import { openDB, type IDBPDatabase } from 'idb';

export interface StoredUpload {
  fileId: string;
  file: File;
  k: number;
  n: number;
  chunkSize: number;
  chunkCount: number;
  epoch: number;
  placements: Array<{ relayId: string; name: string; url: string; x: number }>;
  macKey: Uint8Array<ArrayBuffer>;
  createdAt: number;
  /** Chunks 0..doneUpTo are stored on every relay (-1: not even the metadata chunk). */
  doneUpTo: number;
  /** digests[j][i]: what relay j answered for chunk i, for i <= doneUpTo. */
  digests: string[][];
}

let db: Promise<IDBPDatabase> | undefined;

function database(): Promise<IDBPDatabase> {
  db ??= openDB('kofn', 1, {
    upgrade(d) {
      d.createObjectStore('uploads', { keyPath: 'fileId' });
      // The File is stored once, apart from the progress that changes with every chunk.
      d.createObjectStore('files');
    }
  });
  return db;
}

export async function saveUpload(u: StoredUpload, withFile = false): Promise<void> {
  const d = await database();
  const { file, ...progress } = u;
  if (withFile) await d.put('files', file, u.fileId);
  await d.put('uploads', progress);
}

export async function pendingUploads(): Promise<StoredUpload[]> {
  const d = await database();
  const rows = (await d.getAll('uploads')) as Array<Omit<StoredUpload, 'file'>>;
  const out: StoredUpload[] = [];
  for (const r of rows) {
    const file = (await d.get('files', r.fileId)) as File | undefined;
    if (file) out.push({ ...r, file });
  }
  return out;
}

export async function forgetUpload(fileId: string): Promise<void> {
  const d = await database();
  await d.delete('uploads', fileId);
  await d.delete('files', fileId);
}
