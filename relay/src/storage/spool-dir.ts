/**
 * The default spool folder of an S3 relay (a disk relay spools inside its data root). It must survive a
 * restart so a crashed relay's spool files are found and removed: a folder per process id (as before)
 * leaked every file a `kill -9` left (found by s3-failure.test.ts). It must also not be shared by two
 * live processes of one relay (`--scrub` beside a serving relay), whose `init` would delete the other's
 * uploads. So: one parent per relay id, one child per process; at start, the children of processes no
 * longer alive are removed.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

const SAFE_ID = /^[A-Za-z0-9-]{1,64}$/;

function alive(pid: number): boolean {
  try {
    // Signal 0 sends nothing: it only asks whether the process exists.
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function defaultSpoolDir(base: string, relayId: string): Promise<string> {
  // KOFN_RELAY_ID comes from the environment: never let it shape a path beyond a plain name.
  const name = SAFE_ID.test(relayId) ? relayId : createHash('sha256').update(relayId).digest('hex').slice(0, 32);
  const parent = join(base, `kofn-relay-spool-${name}`);
  await mkdir(parent, { recursive: true, mode: 0o700 });
  for (const entry of await readdir(parent)) {
    if (!/^[1-9][0-9]{0,9}$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid !== process.pid && !alive(pid)) await rm(join(parent, entry), { recursive: true, force: true });
  }
  return join(parent, String(process.pid));
}
