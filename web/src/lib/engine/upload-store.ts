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
  db ??= openDB('kofn', 2, {
    upgrade(d, oldVersion) {
      if (oldVersion < 1) {
        d.createObjectStore('uploads', { keyPath: 'fileId' });
        // The File is stored once, apart from the progress that changes with every chunk.
        d.createObjectStore('files');
      }
      // Each chunk's digests in a row of their own, keyed [fileId, index]: rewriting every digest so far
      // with each chunk made a 1 GiB upload serialise ~170 MB into IndexedDB (quadratic in the file).
      if (oldVersion < 2) d.createObjectStore('digests');
    }
  });
  return db;
}

const digestRange = (fileId: string) => IDBKeyRange.bound([fileId, 0], [fileId, Infinity]);

/** Saves the upload's progress (not its digests), and the File too when `withFile`. */
export async function saveUpload(u: StoredUpload, withFile = false): Promise<void> {
  const d = await database();
  const { file, digests: _digests, ...progress } = u;
  if (withFile) await d.put('files', file, u.fileId);
  await d.put('uploads', progress);
}

/** Saves chunks `indexes` as stored on every relay (their digests) together with the new resume point. */
export async function saveChunksDone(u: StoredUpload, indexes: number[]): Promise<void> {
  const d = await database();
  const tx = d.transaction(['uploads', 'digests'], 'readwrite');
  const { file: _file, digests, ...progress } = u;
  await Promise.all([...indexes.map((i) => tx.objectStore('digests').put(digests.map((forRelay) => forRelay[i]!), [u.fileId, i])), tx.objectStore('uploads').put(progress), tx.done]);
}

export async function pendingUploads(): Promise<StoredUpload[]> {
  const d = await database();
  const rows = (await d.getAll('uploads')) as Array<Omit<StoredUpload, 'file' | 'digests'> & { digests?: string[][] }>;
  const out: StoredUpload[] = [];
  for (const r of rows) {
    const file = (await d.get('files', r.fileId)) as File | undefined;
    if (!file) continue;
    // Rows written before version 2 carry their digests inline.
    const digests = r.digests ?? r.placements.map(() => [] as string[]);
    let cursor = await d.transaction('digests').store.openCursor(digestRange(r.fileId));
    while (cursor) {
      const index = (cursor.key as [string, number])[1];
      (cursor.value as string[]).forEach((digest, j) => (digests[j]![index] = digest));
      cursor = await cursor.continue();
    }
    out.push({ ...r, digests, file });
  }
  return out;
}

export async function forgetUpload(fileId: string): Promise<void> {
  const d = await database();
  await d.delete('uploads', fileId);
  await d.delete('files', fileId);
  await d.delete('digests', digestRange(fileId));
}
