/**
 * A relay's id: generated once (UUID from the platform CSPRNG) and kept beside its data, so a restarted
 * relay is recognised by the coordinator and keeps its tokens' audience.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

const ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function loadOrCreateRelayId(dataDir: string): string {
  const file = join(dataDir, 'relay-id');
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (ID_PATTERN.test(id)) return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true });
  const id = randomUUID();
  writeFileSync(file, `${id}\n`, { flag: 'w', mode: 0o600 });
  return id;
}
