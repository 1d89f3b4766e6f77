#!/usr/bin/env node
/**
 * kofn relay entry point: `kofn-relay [--config relay.json] [--scrub]`; environment overrides the file.
 * Prints one JSON line `{"event":"listening",...}` on stdout once it serves (launchers wait for it).
 */
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Server } from 'node:http';
import { createRemoteJWKSet, importJWK } from 'jose';
import { KOFN_VERSION } from '@kofn/shared';
import { loadConfig, type RelayConfig } from './config.js';
import { createApp } from './app.js';
import { loadOrCreateRelayId } from './identity.js';
import { startAnnouncer } from './announce.js';
import { DiskStore } from './storage/disk.js';
import { S3Store } from './storage/s3.js';
import { defaultSpoolDir } from './storage/spool-dir.js';
import type { ChunkStore } from './storage/types.js';
import type { KeySource } from './auth.js';
import { hardenServer, limitsFromEnv, serverOptions } from './server-limits.js';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function makeStore(config: RelayConfig, relayId: string): Promise<ChunkStore> {
  const s = config.storage;
  if (s.mode === 'Disk') return new DiskStore(s.path_to_folder);
  return new S3Store({
    bucket: s.bucket_name,
    region: s.region,
    endpoint: s.endpoint,
    forcePathStyle: s.force_path_style,
    spoolDir: process.env.KOFN_RELAY_SPOOL ?? (await defaultSpoolDir(tmpdir(), relayId))
  });
}

async function keySource(config: RelayConfig): Promise<KeySource> {
  // A fixed public key (JWK) for stand-alone operation and tests; otherwise the coordinator's JWKS.
  const jwk = process.env.KOFN_TOKEN_PUBLIC_JWK;
  if (!jwk && !config.coordinator) {
    throw new Error('no key to verify capability tokens: set KOFN_COORDINATOR (its /api/jwks) or KOFN_TOKEN_PUBLIC_JWK');
  }
  if (jwk) return (await importJWK(JSON.parse(jwk) as Parameters<typeof importJWK>[0], 'EdDSA')) as KeySource;
  return createRemoteJWKSet(new URL(`${config.coordinator}/api/jwks`), { cooldownDuration: 30_000, timeoutDuration: 5_000 });
}

const config = loadConfig(argValue('--config') ?? process.env.KOFN_RELAY_CONFIG);
const limits = limitsFromEnv();
const log = pino({ name: `relay:${config.name}`, level: process.env.KOFN_LOG_LEVEL ?? 'info' }, pino.destination(2));
// The id first: an S3 relay's default spool folder is named after it (storage/spool-dir.ts).
const idDir = config.storage.mode === 'Disk' ? config.storage.path_to_folder : (process.env.KOFN_RELAY_STATE ?? '.');
mkdirSync(idDir, { recursive: true });
const relayId = process.env.KOFN_RELAY_ID ?? loadOrCreateRelayId(idDir);
const store = await makeStore(config, relayId);

if (process.argv.includes('--scrub')) {
  // Read only, and no init(): its crash cleanup empties the spool folder, which deleted the uploads in
  // flight of a relay serving this same data (scrub.test.ts).
  const r = await store.scrub().catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    process.stderr.write(`kofn-relay --scrub: no relay data at ${idDir}\n`);
    process.exit(2);
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(r.corrupt.length === 0 ? 0 : 1);
}
await store.init();

const app = createApp({ config, relayId, store, keys: await keySource(config), log });

const shutdownHooks: (() => void)[] = [];
const server = serve(
  {
    fetch: app.fetch,
    hostname: config.listen.host,
    port: config.listen.port,
    // Slow-header and slow-body clients are cut off, headers are capped at 16 KiB (server-limits.ts).
    serverOptions: serverOptions(limits)
  },
  (info) => {
    const url = config.public_url || `http://${info.address}:${info.port}`;
    process.stdout.write(`${JSON.stringify({ event: 'listening', id: relayId, name: config.name, url })}\n`);
    log.info({ url, id: relayId, storage: store.kind }, 'relay listening');
    if (config.coordinator) {
      const announcer = startAnnouncer(
        config,
        async () => ({ id: relayId, name: config.name, location: config.location, url, version: KOFN_VERSION, storage: store.kind, ...(await store.usage()) }),
        log
      );
      shutdownHooks.push(() => announcer.stop());
    }
  }
) as Server;
hardenServer(server, limits);

let closing = false;
function shutdown(signal: string): void {
  if (closing) return;
  closing = true;
  log.info({ signal }, 'relay stopping');
  for (const h of shutdownHooks) h();
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  // Long uploads may hold close() open; do not hang a Ctrl-C.
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
