/** A relay app on a fresh disk store with a test signer, for route tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type RelayLog } from '../app.js';
import { loadConfig } from '../config.js';
import { DiskStore } from '../storage/disk.js';
import { makeSigner, type Signer } from './tokens.js';

export const RELAY_ID = '00000000-0000-4000-8000-0000000000aa';
export const ORIGIN = 'http://127.0.0.1:8080';

export interface TestRelayOptions {
  /** The relay's configured name and location (health answers them); default "relay-t" in "Lab". */
  name?: string;
  location?: string;
  log?: RelayLog;
  /** File requests handled at once before 429 (server-limits.ts); default no cap, as createApp's. */
  maxRequests?: number;
  /** The disk store over the data folder, for a test that watches or holds its calls (a subclass). */
  store?: (root: string) => DiskStore;
}

export async function testRelay(opts: TestRelayOptions = {}) {
  const root = mkdtempSync(join(tmpdir(), 'kofn-relay-'));
  const config = loadConfig(undefined, { KOFN_RELAY_NAME: opts.name ?? 'relay-t', KOFN_RELAY_LOCATION: opts.location ?? 'Lab', KOFN_RELAY_DATA: root, KOFN_WEB_ORIGINS: ORIGIN });
  const store = opts.store?.(root) ?? new DiskStore(root);
  await store.init();
  const signer: Signer = await makeSigner(RELAY_ID);
  const app = createApp({ config, relayId: RELAY_ID, store, keys: signer.publicKey, log: opts.log, maxRequests: opts.maxRequests });
  return { app, store, signer, root };
}
