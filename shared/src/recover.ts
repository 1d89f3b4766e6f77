/**
 * Offline recovery: rebuild every file from the stored share chunks of k relays alone, with no
 * coordinator. Share chunks are self-describing (header + metadata record), so the tool only needs the
 * relays' data folders; it recognises share chunks by their header, whatever the relay's folder layout,
 * and ignores anything else (temporary files, checksums, ids). Node only.
 */
import { open, readdir, readFile, rename, mkdir, rm, writeFile, appendFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { hasErrorCode } from './errors.js';
import { HEADER_BYTES, fileIdFromHex, fileIdToHex, parseHeader } from './chunk-format.js';
import { ShareDecoder } from './codec.js';

interface Located {
  path: string;
  x: number;
}

export interface RecoveredFile {
  fileId: string;
  name?: string;
  path?: string;
  size?: number;
  /** Share chunks found corrupt or forged, by path. */
  badShares: string[];
  error?: { code: string; message: string };
}

async function* walk(dir: string): AsyncGenerator<string> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else if (e.isFile()) yield p;
  }
}

/** fileId -> chunk index -> shares found. */
async function indexShares(dirs: readonly string[]): Promise<Map<string, Map<number, Located[]>>> {
  const files = new Map<string, Map<number, Located[]>>();
  const head = new Uint8Array(HEADER_BYTES);
  for (const dir of dirs) {
    for await (const path of walk(dir)) {
      const fh = await open(path, 'r');
      try {
        const { size } = await fh.stat();
        if (size < HEADER_BYTES) continue;
        await fh.read(head, 0, HEADER_BYTES, 0);
        if (head[0] !== 0x4b || head[1] !== 0x4f || head[2] !== 0x46 || head[3] !== 0x4e) continue;
        // Check the header against the real length without reading the body (partial files are skipped).
        const h = parseHeaderOfSize(head, size);
        if (!h) continue;
        const id = fileIdToHex(h.fileId);
        const chunks = files.get(id) ?? new Map<number, Located[]>();
        const list = chunks.get(h.index) ?? [];
        list.push({ path, x: h.x });
        chunks.set(h.index, list);
        files.set(id, chunks);
      } finally {
        await fh.close();
      }
    }
  }
  return files;
}

function parseHeaderOfSize(head: Uint8Array, size: number): ReturnType<typeof parseHeader> | undefined {
  const declared = new DataView(head.buffer, head.byteOffset, HEADER_BYTES).getUint32(32);
  if (declared + HEADER_BYTES !== size) return undefined;
  const probe = new Uint8Array(HEADER_BYTES + declared);
  probe.set(head);
  try {
    return parseHeader(probe);
  } catch {
    return undefined;
  }
}

/** A file name safe to create inside `outDir`: no separators, no control characters, never "." or "..". */
export function safeFileName(name: string, fallback: string): string {
  const cleaned = basename(name.replace(/[\\/]/g, '_')).replace(/[\p{Cc}\p{Cf}]/gu, '_').trim();
  return cleaned === '' || cleaned === '.' || cleaned === '..' ? fallback : cleaned;
}

async function recoverOne(id: string, chunks: Map<number, Located[]>, outDir: string, taken: Set<string>): Promise<RecoveredFile> {
  const result: RecoveredFile = { fileId: id, badShares: [] };
  const decoder = new ShareDecoder();
  const fileId = fileIdFromHex(id);
  const read = async (index: number): Promise<{ list: Located[]; shares: Uint8Array[] }> => {
    const list = chunks.get(index) ?? [];
    return { list, shares: await Promise.all(list.map((l) => readFile(l.path))) };
  };
  let tmp: string | undefined;
  try {
    const m0 = await read(0);
    const meta = await decoder.decodeMetadata(m0.shares, { fileId });
    for (const b of meta.bad) result.badShares.push(m0.list[b]!.path);
    let name = safeFileName(meta.meta.name, id);
    if (taken.has(name)) name = `${name}.${id.slice(0, 8)}`;
    taken.add(name);
    result.name = meta.meta.name;
    result.size = meta.meta.size;
    tmp = join(outDir, `.${id}.partial`);
    await writeFile(tmp, new Uint8Array(0));
    for (let i = 1; i <= meta.meta.chunkCount; i++) {
      const c = await read(i);
      const d = await decoder.decodeData(c.shares, { fileId, index: i, epoch: meta.epoch, k: meta.k });
      for (const b of d.bad) result.badShares.push(c.list[b]!.path);
      await appendFile(tmp, d.data);
    }
    // Only a fully authenticated file gets its real name.
    result.path = join(outDir, name);
    await rename(tmp, result.path);
    tmp = undefined;
  } catch (err) {
    result.error = hasErrorCode(err) ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: (err as Error).message };
  } finally {
    if (tmp) await rm(tmp, { force: true });
  }
  return result;
}

/** Rebuilds every file found in `dirs` into `outDir`. Files that cannot be rebuilt are reported, not written. */
export async function recoverDirectories(dirs: readonly string[], outDir: string): Promise<RecoveredFile[]> {
  await mkdir(outDir, { recursive: true });
  const index = await indexShares(dirs);
  const taken = new Set<string>();
  const results: RecoveredFile[] = [];
  for (const [id, chunks] of [...index.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    results.push(await recoverOne(id, chunks, outDir, taken));
  }
  return results;
}
