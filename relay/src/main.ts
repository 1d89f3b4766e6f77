#!/usr/bin/env node
/**
 * kofn relay entry point: `kofn-relay [--config relay.json] [--scrub]`; environment overrides the file.
 * Prints one JSON line `{"event":"listening",...}` on stdout once it serves (launchers wait for it).
 */
// First, before the other modules load and grow it: V8's young generation stays small (runtime-tuning.ts).
import './runtime-tuning.js';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { Server } from 'node:http';
import { importJWK } from 'jose';
import { KOFN_VERSION } from '@kofn/shared';
import { loadConfig, type RelayConfig } from './config.js';
import { createApp, relayServer } from './app.js';
import { loadOrCreateRelayKey, readEnrollment, readRelayId, saveEnrollment, standaloneRelayId, type RelayKey } from './identity.js';
import { enroll, startHeartbeat } from './announce.js';
import { reportScrub } from './scrub-report.js';
import { DiskStore } from './storage/disk.js';
import { defaultSpoolDir } from './storage/spool-dir.js';
import type { ChunkStore } from './storage/types.js';
import type { KeySource } from './capability.js';
import { coordinatorKeys } from './coordinator-keys.js';
import { hardenServer, limitsFromEnv, serverOptions } from './server-limits.js';
import { MIN_SCRAPE_TOKEN_LENGTH, createRelayMetrics, instrumentStore } from './metrics.js';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function makeStore(config: RelayConfig, relayId: string): Promise<ChunkStore> {
  const s = config.storage;
  if (s.mode === 'Disk') return new DiskStore(s.path_to_folder);
  // Loaded only for S3: the AWS SDK adds about 5 MB to the heap, and every full GC of a disk relay paid
  // for walking it (the relay benchmark's GET/PUT profiles, issue #14).
  const { S3Store } = await import('./storage/s3.js');
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
  return coordinatorKeys(config.coordinator);
}

const config = loadConfig(argValue('--config') ?? process.env.KOFN_RELAY_CONFIG);
const limits = limitsFromEnv();
const log = pino({ name: `relay:${config.name}`, level: process.env.KOFN_LOG_LEVEL ?? 'info' }, pino.destination(2));
const stateDir = config.storage.mode === 'Disk' ? config.storage.path_to_folder : (process.env.KOFN_RELAY_STATE ?? '.');

if (process.argv.includes('--scrub')) {
  // Read only, and no init(): its crash cleanup empties the spool folder, which deleted the uploads in
  // flight of a relay serving this same data (scrub.test.ts). No key is made either: scrub needs none.
  const store = await makeStore(config, readRelayId(stateDir) ?? 'scrub');
  const r = await store.scrub().catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    process.stderr.write(`kofn-relay --scrub: no relay data at ${stateDir}\n`);
    process.exit(2);
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
  // An enrolled relay reports to its coordinator (issue #16); the key exists since enrollment made it.
  const enrolled = config.coordinator ? readEnrollment(stateDir) : undefined;
  if (enrolled?.coordinator === config.coordinator) {
    try {
      const sent = await reportScrub(config.coordinator, loadOrCreateRelayKey(stateDir), enrolled.relayId, r);
      process.stderr.write(`kofn-relay --scrub: reported to the coordinator (${sent.damagedFiles} file(s) with damaged shares)\n`);
    } catch (err) {
      process.stderr.write(`kofn-relay --scrub: could not report to the coordinator: ${(err as Error).message}\n`);
      process.exit(3);
    }
  }
  process.exit(r.corrupt.length === 0 ? 0 : 1);
}

mkdirSync(stateDir, { recursive: true });
const relayKey = loadOrCreateRelayKey(stateDir);
// Operators compare this with the administration page after enrolling (never the private key).
log.info({ publicKey: relayKey.publicKey, fingerprint: relayKey.fingerprint }, 'relay identity key');
// An S3 relay's default spool folder is named after its key: known before enrollment assigns the id, and
// the same after a restart, so a crashed process's spool files are found (storage/spool-dir.ts).
// Store calls are timed for /metrics (metrics.ts); the store itself is unchanged.
const metrics = createRelayMetrics({ processMetrics: true });
const store = instrumentStore(await makeStore(config, relayKey.fingerprint.replaceAll(':', '')), metrics);
await store.init();

/** The URL the relay proposes at enrollment; with an ephemeral port it is known only after listening. */
function proposedUrl(port: number): string {
  return config.public_url || `http://${config.listen.host}:${port}`;
}

function fatal(message: string): never {
  log.error({}, message);
  process.stderr.write(`kofn-relay: ${message}\n`);
  process.exit(1);
}

/**
 * The relay id: assigned by the coordinator at enrollment (never chosen by the relay), or, for a
 * stand-alone relay without a coordinator, kept in the state folder or set by the operator.
 */
async function resolveRelayId(key: RelayKey): Promise<string> {
  if (!config.coordinator) return process.env.KOFN_RELAY_ID ?? standaloneRelayId(stateDir);
  if (process.env.KOFN_RELAY_ID) fatal('KOFN_RELAY_ID is only for stand-alone relays: with a coordinator, the coordinator assigns the id at enrollment.');
  const enrolled = readEnrollment(stateDir);
  if (enrolled?.coordinator === config.coordinator && enrolled.publicKey === key.publicKey) return enrolled.relayId;
  if (!config.enrollment_token) {
    fatal(
      `this relay is not enrolled at ${config.coordinator}. An administrator creates an enrollment token (Administration page, ` +
        `or web/scripts/kofn-admin.mjs enroll); start the relay once with KOFN_RELAY_ENROLLMENT_TOKEN set to it. Relay key fingerprint: ${key.fingerprint}`
    );
  }
  if (config.listen.port === 0 && !config.public_url) fatal('set public_url (KOFN_RELAY_PUBLIC_URL) or a fixed port: the URL is fixed at enrollment.');
  const usage = await store.usage();
  let assigned: string;
  try {
    assigned = await enroll(config, key, { name: config.name, location: config.location, url: proposedUrl(config.listen.port), version: KOFN_VERSION, storage: store.kind, ...usage }, log, {
      retryMs: config.proxy_reconnection_interval * 1000
    });
  } catch (err) {
    fatal((err as Error).message);
  }
  const previous = readRelayId(stateDir);
  // A token made for another relay must not adopt this relay's data under a foreign id.
  if (previous && previous !== assigned) fatal(`this relay's data belongs to relay ${previous}, but the enrollment token was for relay ${assigned}.`);
  saveEnrollment(stateDir, { relayId: assigned, coordinator: config.coordinator, publicKey: key.publicKey });
  log.info({ relayId: assigned }, 'enrolled at the coordinator');
  return assigned;
}

/** KOFN_RELAY_METRICS_TOKEN turns /metrics on; a short one is refused rather than served guessable. */
function scrapeToken(): string | undefined {
  const token = process.env.KOFN_RELAY_METRICS_TOKEN;
  if (token === undefined || token === '') return undefined;
  if (token.length < MIN_SCRAPE_TOKEN_LENGTH || !/^[!-~]+$/.test(token)) fatal(`KOFN_RELAY_METRICS_TOKEN must be at least ${MIN_SCRAPE_TOKEN_LENGTH} printable characters without spaces.`);
  return token;
}

const relayId = await resolveRelayId(relayKey);
const app = createApp({ config, relayId, store, keys: await keySource(config), log, maxRequests: limits.maxRequests, metrics, scrapeToken: scrapeToken() });

const shutdownHooks: Array<() => void> = [];
const server = serve(
  {
    fetch: app.fetch,
    // Chunk PUTs and GETs are answered ahead of Hono (fast-chunks.ts); everything else goes through it.
    createServer: relayServer(app),
    hostname: config.listen.host,
    port: config.listen.port,
    // Slow-header and slow-body clients are cut off, headers are capped at 16 KiB (server-limits.ts).
    serverOptions: serverOptions(limits)
  },
  (info) => {
    const url = proposedUrl(info.port);
    process.stdout.write(`${JSON.stringify({ event: 'listening', id: relayId, name: config.name, url })}\n`);
    log.info({ url, id: relayId, storage: store.kind }, 'relay listening');
    if (config.coordinator) {
      const announcer = startHeartbeat(
        config,
        relayKey,
        relayId,
        async () => ({ name: config.name, location: config.location, url, version: KOFN_VERSION, storage: store.kind, ...(await store.usage()) }),
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
