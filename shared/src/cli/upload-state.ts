/**
 * What lets `kofn protect` continue after it was killed (issue #20 "resumable protect and retrieve"): the
 * Node counterpart of the browser's IndexedDB record (web/src/lib/engine/upload-store.ts). Re-running the
 * same command on the same unchanged file finds the reservation, keeps every chunk all relays acknowledged,
 * deletes what lies past it (a re-split chunk has new random shares, and every share of a chunk must come
 * from one split) and continues from there.
 *
 * Kept in `<config dir>/uploads/` (folder 0700, files 0600, as the session): `<key>.json` holds the
 * reservation and the file's MAC key (an integrity key: with it and k shares nobody learns more than with
 * k shares alone, but a forger could make chunks pass; so it is as private as the session), and
 * `<key>.log` one line per chunk stored everywhere, `index digest,digest,...` (relay order), appended as
 * chunks finish: a 10 GiB file is 10,240 short appends, not 10,240 rewrites of a growing document.
 * The key is a hash of the coordinator, the file's real path, size and modification time, and the
 * options: a changed file or other options start a new upload.
 */
import { createHash } from 'node:crypto';
import { appendFile, chmod, mkdir, open, readFile, rename, rm, stat, truncate } from 'node:fs/promises';
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { configDir } from './config.js';
import type { FileMode } from '../share-sizes.js';
import type { TreeManifest } from '../layout.js';

export interface UploadState {
  v: 1;
  origin: string;
  fileId: string;
  k: number;
  n: number;
  chunkSize: number;
  chunkCount: number;
  epoch: number;
  /** Compact mode (issue #23); absent: Shamir. */
  mode?: FileMode;
  /** A multi-level file's manifest tree (issue #21); absent: flat. */
  tree?: TreeManifest;
  placements: Array<{ relayId: string; name: string; url: string; x: number }>;
  /**
   * base64: the file's key, its MAC key, or in compact mode its AES-256 key. A compact upload continues
   * only on the same unchanged file (the resume key below), so a chunk re-encrypted under this key after a
   * kill has the same plaintext as before (compact-mode.md, "Nonces").
   */
  macKey: string;
  createdAt: number;
  name: string;
  size: number;
  type: string;
}

export interface ResumePoint {
  /** Chunks 0..doneUpTo are on every relay (-1: none). */
  doneUpTo: number;
  /** Each relay's digest per chunk index, for 0..doneUpTo. */
  digests: string[][];
}

const dir = (env?: NodeJS.ProcessEnv) => join(configDir(env), 'uploads');

/** The resume key of a local file protected with these options; undefined when the file cannot be found again. */
export async function uploadKey(path: string, opts: { origin: string; name: string; k?: number; relays?: string[]; type?: string; mode?: FileMode; layout?: string }): Promise<string | undefined> {
  try {
    const real = await realpath(path);
    const st = await stat(real);
    const what = JSON.stringify([opts.origin, real, st.size, st.mtimeMs, st.ino, opts.name, opts.k ?? null, opts.relays ?? null, opts.type ?? null]);
    // Appended only when given, so uploads interrupted before these options existed keep their key.
    const more = opts.mode === 'compact' || opts.layout !== undefined ? JSON.stringify([opts.mode ?? 'shamir', opts.layout ?? null]) : '';
    return createHash('sha256')
      .update(what + more)
      .digest('hex')
      .slice(0, 32);
  } catch {
    return undefined;
  }
}

export class UploadStore {
  constructor(
    readonly key: string,
    private readonly env?: NodeJS.ProcessEnv
  ) {}

  private get json(): string {
    return join(dir(this.env), `${this.key}.json`);
  }
  private get log(): string {
    return join(dir(this.env), `${this.key}.log`);
  }

  async load(): Promise<{ state: UploadState; point: ResumePoint } | undefined> {
    let state: UploadState;
    try {
      const st = await stat(this.json);
      if ((st.mode & 0o077) !== 0) return undefined; // not ours to trust, as the session file
      const parsed = JSON.parse(await readFile(this.json, 'utf8')) as Partial<UploadState> | null;
      if (parsed?.v !== 1 || !Array.isArray(parsed.placements)) return undefined;
      state = parsed as UploadState;
    } catch {
      return undefined;
    }
    const digests: string[][] = state.placements.map(() => []);
    const done = new Set<number>();
    const text = await readFile(this.log, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      // A line cut short by the kill has no newline after it and fails the pattern: that chunk is redone.
      const m = /^(\d+) ([0-9a-f,]+)$/.exec(line);
      if (!m) continue;
      const parts = m[2]!.split(',');
      if (parts.length !== state.placements.length || parts.some((d) => !/^[0-9a-f]{64}$/.test(d))) continue;
      const index = Number(m[1]);
      parts.forEach((d, j) => (digests[j]![index] = d));
      done.add(index);
    }
    let doneUpTo = -1;
    while (done.has(doneUpTo + 1)) doneUpTo += 1;
    for (const d of digests) d.length = doneUpTo + 1;
    return { state, point: { doneUpTo, digests } };
  }

  /** Writes the reservation (anew after a relay replacement) and empties the chunk log. */
  async save(state: UploadState): Promise<void> {
    await mkdir(dir(this.env), { recursive: true, mode: 0o700 });
    const tmp = `${this.json}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(state));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, 0o600);
    await rename(tmp, this.json);
    await truncate(this.log).catch(async () => (await open(this.log, 'a', 0o600)).close());
    await chmod(this.log, 0o600);
  }

  /** Records chunk `index` as stored on every relay, with each relay's digest (relay order). */
  async chunkDone(index: number, digests: string[]): Promise<void> {
    await appendFile(this.log, `${index} ${digests.join(',')}\n`, { mode: 0o600 });
  }

  async forget(): Promise<void> {
    await rm(this.json, { force: true });
    await rm(this.log, { force: true });
  }
}
