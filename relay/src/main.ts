#!/usr/bin/env node
/**
 * kofn relay entry point: `kofn-relay [--config relay.json]`; environment overrides the file.
 * Prints one JSON line `{"event":"listening",...}` on stdout once it serves (launchers wait for it).
 */
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { mkdirSync } from 'node:fs';
import { KOFN_VERSION } from '@kofn/shared';
import { loadConfig } from './config.js';
import { createApp } from './app.js';
import { loadOrCreateRelayId } from './identity.js';
import { diskUsage } from './usage.js';
import { startAnnouncer } from './announce.js';

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const config = loadConfig(argValue('--config') ?? process.env.KOFN_RELAY_CONFIG);
const log = pino({ name: `relay:${config.name}`, level: process.env.KOFN_LOG_LEVEL ?? 'info' }, pino.destination(2));
if (config.storage.mode !== 'Disk') {
  log.fatal({ mode: config.storage.mode }, 'this build serves Disk storage only');
  process.exit(2);
}
const dataDir = config.storage.path_to_folder;
mkdirSync(dataDir, { recursive: true });
const relayId = process.env.KOFN_RELAY_ID ?? loadOrCreateRelayId(dataDir);
const usage = () => diskUsage(dataDir);
const app = createApp({ config, relayId, usage, log });

const server = serve({ fetch: app.fetch, hostname: config.listen.host, port: config.listen.port }, (info) => {
  const url = config.public_url || `http://${info.address}:${info.port}`;
  process.stdout.write(`${JSON.stringify({ event: 'listening', id: relayId, name: config.name, url })}\n`);
  log.info({ url, id: relayId }, 'relay listening');
  if (config.coordinator) {
    const announcer = startAnnouncer(
      config,
      async () => ({ id: relayId, name: config.name, location: config.location, url, version: KOFN_VERSION, storage: config.storage.mode, ...(await usage()) }),
      log
    );
    shutdownHooks.push(() => announcer.stop());
  }
});

const shutdownHooks: (() => void)[] = [];
let closing = false;
function shutdown(signal: string): void {
  if (closing) return;
  closing = true;
  log.info({ signal }, 'relay stopping');
  for (const h of shutdownHooks) h();
  server.close(() => process.exit(0));
  // Keep-alive connections may hold close() open; do not hang a Ctrl-C.
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
