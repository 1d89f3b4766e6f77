/** Free and used bytes of a relay's data folder, for `/v1/health` and the coordinator's capacity view. */
import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';

export interface Usage {
  usedBytes: number;
  freeBytes: number;
}

async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await sizeOf(p);
    else if (e.isFile()) total += (await stat(p)).size;
  }
  return total;
}

export async function diskUsage(dir: string): Promise<Usage> {
  const fs = await statfs(dir);
  return { usedBytes: await sizeOf(dir), freeBytes: fs.bavail * fs.bsize };
}
