/**
 * Disk storage: `<root>/chunks/<fid[0:2]>/<fid>/<index>.<sha256>`. The checksum lives in the name, so a
 * chunk and its checksum appear together in one atomic step: the fsynced spool file (in `<root>/tmp`, same
 * filesystem) is hard-linked into place, then the directory is fsynced. A crash leaves either no chunk or a
 * whole one; leftover spool files are removed at start. One relay process owns a data folder.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, mkdir, open, readdir, rm, rmdir, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KofnError } from '@kofn/shared';
import { KeyedLock } from './keyed-lock.js';
import { DirSync } from './dir-sync.js';
import { BLOCK_BYTES } from './block-pool.js';
import type { ChunkInfo, ChunkStore, Spooled, StoredChunk } from './types.js';

const NAME = /^(\d{1,10})\.([0-9a-f]{64})$/;

function notFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class DiskStore implements ChunkStore {
  readonly kind = 'Disk' as const;
  readonly spoolDir: string;
  readonly #chunks: string;
  readonly #lock = new KeyedLock();
  /** Directory fsyncs shared by the chunks committed into one folder at once (dir-sync.ts). */
  readonly dirSync = new DirSync();
  /** Bytes in stored chunks: counted once at start, then kept by commit and delete. */
  #used = 0;

  constructor(readonly root: string) {
    this.spoolDir = join(root, 'tmp');
    this.#chunks = join(root, 'chunks');
  }

  async init(): Promise<void> {
    await mkdir(this.#chunks, { recursive: true });
    // Spool files left by a crash never became chunks: remove them.
    await rm(this.spoolDir, { recursive: true, force: true });
    await mkdir(this.spoolDir, { recursive: true });
    this.#used = 0;
    for (const fileId of await this.#fileIds()) for (const c of await this.list(fileId)) this.#used += c.size;
  }

  async #fileIds(): Promise<string[]> {
    const out: string[] = [];
    for (const shard of await readdir(this.#chunks)) out.push(...(await readdir(join(this.#chunks, shard)).catch(() => [] as string[])));
    return out;
  }

  #dir(fileId: string): string {
    return join(this.#chunks, fileId.slice(0, 2), fileId);
  }

  async #entries(fileId: string): Promise<Array<{ name: string; index: number; digest: string }>> {
    let names: string[];
    try {
      names = await readdir(this.#dir(fileId));
    } catch (err) {
      // A file where a file's folder would be (start and scrub walk every name in a shard) holds no
      // chunks: it used to stop the relay from starting (ENOTDIR).
      if (notFound(err) || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
      throw err;
    }
    const out = [];
    for (const name of names) {
      const m = NAME.exec(name);
      if (m) out.push({ name, index: Number(m[1]), digest: m[2]! });
    }
    return out;
  }

  async #find(fileId: string, index: number): Promise<{ path: string; digest: string } | undefined> {
    const e = (await this.#entries(fileId)).find((x) => x.index === index);
    return e && { path: join(this.#dir(fileId), e.name), digest: e.digest };
  }

  commit(fileId: string, index: number, spooled: Spooled): Promise<{ created: boolean }> {
    return this.#lock.run(`${fileId}/${index}`, async () => {
      try {
        const existing = await this.#find(fileId, index);
        if (existing) {
          if (existing.digest !== spooled.digest) throw new KofnError('CONFLICT', 'A different share chunk is already stored at this index.');
          return { created: false };
        }
        const dir = this.#dir(fileId);
        await this.#linkInto(dir, spooled.path, join(dir, `${index}.${spooled.digest}`));
        // Only an fsync that began after this link answers it (group commit, dir-sync.ts).
        await this.dirSync.sync(dir);
        this.#used += spooled.size;
        return { created: true };
      } finally {
        await unlink(spooled.path).catch(() => undefined);
      }
    });
  }

  /**
   * Links the spool file into the chunk folder, making the folder only when the link says it is missing:
   * a file's chunks after the first find it there, and skip mkdir's syscalls (issue #14). A delete may
   * remove an emptied folder at any time (it holds another chunk's lock), hence the retry.
   */
  async #linkInto(dir: string, from: string, to: string): Promise<void> {
    try {
      await link(from, to);
    } catch (err) {
      if (!notFound(err)) throw err;
      await mkdir(dir, { recursive: true });
      await link(from, to);
    }
  }

  async head(fileId: string, index: number): Promise<ChunkInfo | undefined> {
    const found = await this.#find(fileId, index);
    if (!found) return undefined;
    try {
      return { index, size: (await stat(found.path)).size, digest: found.digest };
    } catch (err) {
      if (notFound(err)) return undefined;
      throw err;
    }
  }

  async get(fileId: string, index: number): Promise<StoredChunk | undefined> {
    const found = await this.#find(fileId, index);
    if (!found) return undefined;
    // Open now, so a concurrent delete cannot pull the file from under the response.
    const fh = await open(found.path, 'r');
    const { size } = await fh.stat();
    return { index, size, digest: found.digest, file: fh, open: () => createReadStream('', { fd: fh, autoClose: true, highWaterMark: BLOCK_BYTES }) };
  }

  async list(fileId: string): Promise<ChunkInfo[]> {
    const dir = this.#dir(fileId);
    const out: ChunkInfo[] = [];
    for (const e of await this.#entries(fileId)) {
      try {
        out.push({ index: e.index, digest: e.digest, size: (await stat(join(dir, e.name))).size });
      } catch (err) {
        if (!notFound(err)) throw err; // deleted meanwhile
      }
    }
    return out.sort((a, b) => a.index - b.index);
  }

  delete(fileId: string, index: number): Promise<boolean> {
    return this.#lock.run(`${fileId}/${index}`, async () => {
      const found = await this.#find(fileId, index);
      if (!found) return false;
      const { size } = await stat(found.path);
      await unlink(found.path);
      this.#used -= size;
      await rmdir(this.#dir(fileId)).catch(() => undefined); // succeeds only once the folder is empty
      return true;
    });
  }

  async deleteFile(fileId: string): Promise<number> {
    let n = 0;
    for (const c of await this.list(fileId)) if (await this.delete(fileId, c.index)) n++;
    await rm(this.#dir(fileId), { recursive: true, force: true });
    return n;
  }

  async usage(): Promise<{ usedBytes: number; freeBytes: number }> {
    const fs = await statfs(this.root);
    return { usedBytes: this.#used, freeBytes: fs.bavail * fs.bsize };
  }

  async scrub(): Promise<{ checked: number; corrupt: Array<{ fileId: string; index: number }> }> {
    let checked = 0;
    const corrupt: Array<{ fileId: string; index: number }> = [];
    for (const fileId of await this.#fileIds()) {
      for (const e of await this.#entries(fileId)) {
        const hash = createHash('sha256');
        for await (const part of createReadStream(join(this.#dir(fileId), e.name))) hash.update(part as Buffer);
        checked++;
        if (hash.digest('hex') !== e.digest) corrupt.push({ fileId, index: e.index });
      }
    }
    return { checked, corrupt };
  }
}
