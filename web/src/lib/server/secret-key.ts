/** The running coordinator's secret key (secret-box.ts), read once from KOFN_SECRET_KEY or the data directory. */
import { coordinator } from './context.js';
import { loadSecretKey } from './secret-box.js';

let key: Uint8Array | undefined;

export async function secretKey(): Promise<Uint8Array> {
  key ??= loadSecretKey((await coordinator()).config.dataDir);
  return key;
}
