/**
 * Limits below the app: connection cap, timeouts, and malformed requests that Node's HTTP parser rejects
 * before Hono sees them (oversized headers, duplicate or conflicting Content-Length, bad chunked encoding)
 * still get a 4xx with a JSON error code instead of a bare 400 or a reset.
 *
 * Every way a client can hold one of the `maxConnections` slots is bounded in time (issue #13 item 2):
 *   - headers never finished (slowloris): `headersTimeout`, then a 408;
 *   - a body sent slowly or never finished: `requestTimeout` for the whole request, then a 408;
 *   - an answer the client never reads, or a connection where nothing moves: `idleTimeout` (no byte
 *     read or written for that long) destroys the socket;
 *   - an answer read just fast enough to stay under the idle timeout (64 KiB a minute would hold a slot
 *     for 17 hours per 64 MiB chunk): `responseTimeout` bounds a request and its answer together;
 *   - after any error answer written here: the socket is destroyed `LINGER_MS` later whatever the client
 *     does. Node's HTTP server is `allowHalfOpen`, so `socket.end()` alone only closed our side: a client
 *     that never closed its side kept the slot for as long as it liked (~530 such sockets locked every
 *     client out of a relay with 512 slots; reproduced for 61 s).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { KofnError } from '@kofn/shared';

export interface ServerLimits {
  /** Open sockets at once; further connections are closed at once by Node. */
  maxConnections: number;
  /** Time for a client to send complete request headers (ms). */
  headersTimeoutMs: number;
  /** Time for a client to send a complete request, headers and body (ms); at least `headersTimeoutMs`. */
  requestTimeoutMs: number;
  /** A socket on which no byte moved either way for this long is destroyed (ms). */
  idleTimeoutMs: number;
  /** A request and its answer must be done within this (ms), or the socket is destroyed. */
  responseTimeoutMs: number;
  /**
   * File requests (share chunks, listings, deletions, renewal) handled at once; one more is answered 429
   * RATE_LIMITED with `Retry-After: RETRY_AFTER_S` instead of queueing behind the others (app.ts). A GET
   * counts until its answer starts streaming, a PUT until its chunk is stored; a batch listing counts once
   * for each listing it runs at once, up to 8, taking only slots that are free (batch-list.ts).
   */
  maxRequests: number;
}

/** What a relay over its `maxRequests` asks clients to wait (seconds); the shared RelayClient honours it. */
export const RETRY_AFTER_S = 1;

/**
 * Production defaults (connection cap, header and request timeouts as before this module read them from
 * the environment). 120 s per request lets a 64 MiB share chunk (the largest a relay accepts) arrive at
 * about 4.5 Mbit/s. The idle timeout counts silence in both directions; the relay's own longest silent
 * step is committing one chunk (an fsync, or an upload to S3 that is itself cut after 60 s of silence,
 * storage/s3.ts), and a reading browser never pauses that long.
 */
export const DEFAULT_LIMITS: ServerLimits = {
  maxConnections: 512,
  headersTimeoutMs: 15_000,
  requestTimeoutMs: 120_000,
  idleTimeoutMs: 60_000,
  // 10 minutes: the largest chunk (64 MiB) still goes out at 0.9 Mbit/s, a default 1 MiB chunk at 14 kbit/s;
  // and a held slot then costs the holder a fresh request, with a token that lives 15 minutes at most.
  responseTimeoutMs: 600_000,
  // Each request in progress holds at most one spooled share chunk's buffers and a file descriptor or two;
  // 256 is half the connection cap, so a burst is refused with a Retry-After before sockets run out.
  maxRequests: 256
};

/** How long an error answer may linger for the client to read it before the socket is destroyed. */
export const LINGER_MS = 1_000;

type Env = Record<string, string | undefined>;

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^[1-9][0-9]{0,8}$/.test(raw)) throw new KofnError('INVALID_ARGUMENT', `relay config: "${name}" expected a positive integer, got ${raw}`);
  return Number(raw);
}

/**
 * Reads KOFN_RELAY_MAX_CONNECTIONS, KOFN_RELAY_HEADERS_TIMEOUT_MS, KOFN_RELAY_REQUEST_TIMEOUT_MS,
 * KOFN_RELAY_IDLE_TIMEOUT_MS, KOFN_RELAY_RESPONSE_TIMEOUT_MS (tests shorten them to run in seconds) and
 * KOFN_RELAY_MAX_REQUESTS.
 */
export function limitsFromEnv(env: Env = process.env): ServerLimits {
  const limits: ServerLimits = {
    maxConnections: positiveInt(env, 'KOFN_RELAY_MAX_CONNECTIONS', DEFAULT_LIMITS.maxConnections),
    headersTimeoutMs: positiveInt(env, 'KOFN_RELAY_HEADERS_TIMEOUT_MS', DEFAULT_LIMITS.headersTimeoutMs),
    requestTimeoutMs: positiveInt(env, 'KOFN_RELAY_REQUEST_TIMEOUT_MS', DEFAULT_LIMITS.requestTimeoutMs),
    idleTimeoutMs: positiveInt(env, 'KOFN_RELAY_IDLE_TIMEOUT_MS', DEFAULT_LIMITS.idleTimeoutMs),
    responseTimeoutMs: positiveInt(env, 'KOFN_RELAY_RESPONSE_TIMEOUT_MS', DEFAULT_LIMITS.responseTimeoutMs),
    maxRequests: positiveInt(env, 'KOFN_RELAY_MAX_REQUESTS', DEFAULT_LIMITS.maxRequests)
  };
  // Node refuses headersTimeout > requestTimeout at start-up; say which setting is wrong instead.
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new KofnError('INVALID_ARGUMENT', 'relay config: "KOFN_RELAY_HEADERS_TIMEOUT_MS" must not exceed "KOFN_RELAY_REQUEST_TIMEOUT_MS"');
  }
  return limits;
}

/** Options for `http.createServer` (through @hono/node-server's `serverOptions`). */
export function serverOptions(limits: ServerLimits) {
  return {
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    keepAliveTimeout: 5_000,
    maxHeaderSize: 16 * 1024,
    // How often Node looks for sockets past headersTimeout/requestTimeout; at most half the header timeout.
    connectionsCheckingInterval: Math.min(1_000, Math.max(100, Math.floor(limits.headersTimeoutMs / 2)))
  };
}

/** Ends the socket now and destroys it `LINGER_MS` later at the latest, so a slot is never kept. */
function closeSoon(socket: Duplex): void {
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end();
}

function reply(socket: Duplex, status: number, reason: string, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.write(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  closeSoon(socket);
}

/** True when an answer has started on this socket: a raw error answer would corrupt it. */
function answerStarted(socket: Duplex): boolean {
  // Node's own clientError default checks the same private field (lib/_http_server.js socketOnError).
  const message = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  return message?.headersSent === true;
}

export function hardenServer(server: Server, opts: { maxConnections: number; idleTimeoutMs?: number; responseTimeoutMs?: number }): void {
  server.maxConnections = opts.maxConnections;
  // With no 'timeout' listener anywhere, Node destroys a socket idle this long (lib/_http_server.js
  // socketOnTimeout). This is what frees a slot held by a client that never reads a GET's answer.
  if (opts.idleTimeoutMs !== undefined) server.setTimeout(opts.idleTimeoutMs);
  const deadline = opts.responseTimeoutMs;
  if (deadline !== undefined) {
    // Node has no limit on the time an answer takes to go out; a trickling reader is cut here.
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const timer = setTimeout(() => req.socket.destroy(), deadline);
      timer.unref();
      res.once('close', () => clearTimeout(timer));
    });
  }
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || err.code === 'ECONNRESET' || answerStarted(socket)) {
      socket.destroy();
      return;
    }
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      reply(socket, 431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE', 'Request headers are too large.');
      return;
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      reply(socket, 408, 'Request Timeout', 'BAD_REQUEST', 'The request took too long.');
      return;
    }
    reply(socket, 400, 'Bad Request', 'BAD_REQUEST', 'Malformed HTTP request.');
  });
}
