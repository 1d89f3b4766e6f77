/**
 * Upload state kept in IndexedDB (idb) so a reload, a lost connection or a relay restart resumes an
 * upload where it stopped: the File itself (browsers keep a File stored in IndexedDB readable), the
 * reservation, the file's MAC key (it must stay the one inside the already stored metadata chunk; it lives
 * only in this browser, like the plaintext), how far every relay has acknowledged, and the digests relays
 * returned. Removed once the upload is committed or cancelled, and all of it on sign-out (issue #13 item
 * 10: the plaintext File and the MAC key otherwise stayed for the next user of the browser profile).
 */
import { openDB, type IDBPDatabase } from 'idb';
import type { TreeManifest } from '@kofn/shared';
import type { RemoteChunkTarget } from './remote-chunks';

export interface StoredUpload {
  fileId: string;
  file: File;
  /** The name reserved when it differs from the file's (a "keep both" choice, issue #18): the record holds it. */
  name?: string;
  k: number;
  n: number;
  chunkSize: number;
  chunkCount: number;
  epoch: number;
  /** `remote`: a relay of a remote group (federation), on another deployment, with the sub-file it holds. */
  placements: Array<{ relayId: string; name: string; url: string; x: number; remote?: RemoteChunkTarget }>;
  macKey: Uint8Array<ArrayBuffer>;
  /** Issue #23: 'compact' for a compact-mode file (macKey is then its AES-256 file key); absent: Shamir. */
  mode?: 'shamir' | 'compact';
  createdAt: number;
  /** Chunks 0..doneUpTo are stored on every relay (-1: not even the metadata chunk). */
  doneUpTo: number;
  /** digests[j][i]: what relay j answered for chunk i, for i <= doneUpTo. */
  digests: string[][];
  /** Issue #21: a tree file's manifest tree (placements are in its relay order); absent: flat. */
  tree?: TreeManifest;
  /** Issue #21 part 2: the tree's sub-files at other deployments (removed with a failed or cancelled upload). */
  remoteSubFiles?: Array<{ deployment: string; fileId: string }>;
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

/**
 * Uploads discarded in this document (sign-out): a save still on its way for one of them must not write
 * its File or key back. File ids are random per reservation, so this never blocks a new upload.
 */
const discarded = new Set<string>();

/** Saves the upload's progress (not its digests), and the File too when `withFile`. */
export async function saveUpload(u: StoredUpload, withFile = false): Promise<void> {
  const d = await database();
  if (discarded.has(u.fileId)) return;
  const { file, digests: _digests, ...progress } = u;
  if (withFile) await d.put('files', file, u.fileId);
  await d.put('uploads', progress);
}

/** Saves chunks `indexes` as stored on every relay (their digests) together with the new resume point. */
export async function saveChunksDone(u: StoredUpload, indexes: number[]): Promise<void> {
  const d = await database();
  if (discarded.has(u.fileId)) return;
  const tx = d.transaction(['uploads', 'digests'], 'readwrite');
  const { file: _file, digests, ...progress } = u;
  await Promise.all([
    ...indexes.map((i) =>
      tx.objectStore('digests').put(
        digests.map((forRelay) => forRelay[i]!),
        [u.fileId, i]
      )
    ),
    tx.objectStore('uploads').put(progress),
    tx.done
  ]);
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

/** How many uploads this browser keeps unfinished (whoever started them). */
export async function countUploads(): Promise<number> {
  const d = await database();
  const [uploads, files] = await Promise.all([d.count('uploads'), d.count('files')]);
  return Math.max(uploads, files);
}

/** Removes every stored upload (File, MAC key, progress, digests) in one transaction; returns their file ids. */
export async function discardAllUploads(): Promise<string[]> {
  const d = await database();
  const tx = d.transaction(['uploads', 'files', 'digests'], 'readwrite');
  const [uploads, files] = await Promise.all([tx.objectStore('uploads').getAllKeys(), tx.objectStore('files').getAllKeys()]);
  const ids = [...new Set([...uploads, ...files].map(String))];
  for (const id of ids) discarded.add(id);
  await Promise.all([tx.objectStore('uploads').clear(), tx.objectStore('files').clear(), tx.objectStore('digests').clear(), tx.done]);
  return ids;
}
