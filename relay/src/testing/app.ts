/** A relay app on a fresh disk store with a test signer, for route tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../app.js';
import { loadConfig } from '../config.js';
import { DiskStore } from '../storage/disk.js';
import { makeSigner, type Signer } from './tokens.js';

export const RELAY_ID = '00000000-0000-4000-8000-0000000000aa';
export const ORIGIN = 'http://127.0.0.1:8080';

export async function testRelay() {
  const root = mkdtempSync(join(tmpdir(), 'kofn-relay-'));
  const config = loadConfig(undefined, { KOFN_RELAY_NAME: 'relay-t', KOFN_RELAY_LOCATION: 'Lab', KOFN_RELAY_DATA: root, KOFN_WEB_ORIGINS: ORIGIN });
  const store = new DiskStore(root);
  await store.init();
  const signer: Signer = await makeSigner(RELAY_ID);
  const app = createApp({ config, relayId: RELAY_ID, store, keys: signer.publicKey });
  return { app, store, signer, root };
}
