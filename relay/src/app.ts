/**
 * The relay's HTTP surface (Hono). Tests call `app.request()` without opening a port.
 */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { secureHeaders } from 'hono/secure-headers';
import { KOFN_VERSION, KofnError } from '@kofn/shared';
import type { RelayConfig } from './config.js';
import type { Usage } from './usage.js';
import { toHttpError } from './http-error.js';

export interface RelayDeps {
  config: RelayConfig;
  relayId: string;
  usage: () => Promise<Usage>;
  log?: { error: (obj: object, msg: string) => void };
}

export function createApp(deps: RelayDeps): Hono {
  const { config } = deps;
  const app = new Hono();
  const allowed = new Set(config.web_origins);

  app.use(
    '*',
    secureHeaders({
      // Relays serve bytes, never pages: nothing may be framed, sniffed or run.
      contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
      crossOriginResourcePolicy: 'cross-origin'
    })
  );
  app.use(
    '*',
    cors({
      // Exact match only; anything else gets no CORS headers at all.
      origin: (origin) => (allowed.has(origin) ? origin : null),
      allowMethods: ['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS'],
      allowHeaders: ['Authorization', 'Content-Type', 'Content-Length', 'X-Request-Id'],
      exposeHeaders: ['ETag', 'X-Request-Id', 'X-Kofn-Digest'],
      maxAge: 600
    })
  );

  app.get('/v1/health', async (c) => {
    const usage = await deps.usage();
    return c.json({
      id: deps.relayId,
      name: config.name,
      location: config.location,
      version: KOFN_VERSION,
      storage: config.storage.mode,
      freeBytes: usage.freeBytes,
      usedBytes: usage.usedBytes
    });
  });

  // The browser times this round trip to choose the fastest relays; it must do no work.
  app.get('/v1/ping', (c) => {
    c.header('Cache-Control', 'no-store');
    return c.body(null, 204);
  });

  app.notFound((c) => c.json(new KofnError('NOT_FOUND', 'No such route.').toJSON(), 404));

  app.onError((err, c) => {
    const { status, body, known } = toHttpError(err);
    if (!known) deps.log?.error({ err: { name: (err as Error).name, message: (err as Error).message } }, 'unhandled relay error');
    return c.json(body, status as 400);
  });

  return app;
}
