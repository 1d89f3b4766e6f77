/**
 * Share-chunk bytes in and out of the relay straight through Node's `IncomingMessage`/`ServerResponse`,
 * for the two routes that carry them (PUT and GET of a chunk, and renewal's contribution PUT).
 *
 * Why (issue #14, measured with `node --cpu-prof` on 16 concurrent 4 MiB transfers): @hono/node-server
 * hands bodies to and from Hono as Web streams. A request body is `Readable.toWeb(incoming)` wrapped
 * in a second ReadableStream, and a Node stream answer had to go through `Readable.toWeb` too; that
 * adapter copies every read into a fresh Uint8Array (node lib/internal/webstreams/adapters.js, "detach
 * it from the pool"). The copies, the extra stream layers and the buffers they keep alive long enough
 * to reach V8's old space (about 20 full mark-compacts per 200 MB served, against one for a plain
 * node:http server) were most of the relay's CPU per byte above that baseline.
 *
 * Everything else stays in Hono: routing, the token check (before any body byte is read), CORS,
 * security headers, the request id, error answers. Only the bytes skip the Web-stream detour:
 *   - in: `requestBody(c)` gives the `IncomingMessage` itself (Node's socket reads are fresh buffers
 *     the parser never reuses; ingest hashes each and copies it into a reused write block);
 *   - out: `chunkAnswer(c, chunk, headers)` answers with no body inside Hono and remembers the chunk;
 *     `withNodeBodies(app)` then writes the status and every header Hono produced (its middleware
 *     included) with `writeHead` and sends the chunk's file into the response through two reused
 *     blocks (storage/send-file.ts; a chunk with no file, e.g. from S3, is piped as a Node stream),
 *     and tells the adapter the answer is sent (`RESPONSE_ALREADY_SENT`, the
 *     adapter's documented way, @hono/node-server README "Direct response from Node.js API").
 * Without Node's server (`app.request()` in tests) both fall back to the Web streams, same bytes.
 * On the relay's own server most chunk PUTs and GETs skip Hono altogether (fast-chunks.ts); these routes
 * still serve the rest (a token's first use, errors found before the body).
 */
import { IncomingMessage, ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Context, Env, Hono } from 'hono';
// Made at import time, before serve() swaps the global Response for the adapter's own: the adapter
// recognises it by its header and writes nothing (node_modules/@hono/node-server/dist/utils/response).
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { StoredChunk } from './storage/types.js';
import { sendFile } from './storage/send-file.js';

interface NodeEnv {
  incoming?: unknown;
  outgoing?: unknown;
}

function nodeIncoming(c: Context): IncomingMessage | undefined {
  const incoming = (c.env as NodeEnv | undefined)?.incoming;
  return incoming instanceof IncomingMessage ? incoming : undefined;
}

function nodeOutgoing(env: unknown): ServerResponse | undefined {
  const outgoing = (env as NodeEnv | undefined)?.outgoing;
  return outgoing instanceof ServerResponse ? outgoing : undefined;
}

/**
 * The body to stream into `ingest`. On Node, leaving the loop early (a size or header check failed) does
 * not destroy the request (`destroyOnReturn: false`): the 4xx answer goes out on a live socket and the
 * adapter then drains or closes it, as it did when the body was a Web stream that was cancelled.
 */
export function requestBody(c: Context): AsyncIterable<Uint8Array> | ReadableStream<Uint8Array> | null {
  const incoming = nodeIncoming(c);
  if (incoming) return incoming.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
  return c.req.raw.body;
}

/** Chunks whose bytes are still to be sent, by the Node response they belong to. */
const pending = new WeakMap<ServerResponse, StoredChunk>();

/** A 200 answer carrying `chunk`'s bytes with `headers` (which must include its Content-Length). */
export function chunkAnswer(c: Context, chunk: StoredChunk, headers: Record<string, string>): Response {
  const outgoing = nodeOutgoing(c.env);
  if (!outgoing) return c.body(Readable.toWeb(chunk.open()) as ReadableStream<Uint8Array>, 200, headers);
  pending.set(outgoing, chunk);
  return c.body(null, 200, headers);
}

/** Wraps `app.fetch` so that answers made by `chunkAnswer` send their bytes through Node (see above). */
export function withNodeBodies<E extends Env>(app: Hono<E>): Hono<E> {
  const honoFetch = app.fetch;
  app.fetch = async (request, env, ctx) => {
    const res = await honoFetch(request, env, ctx);
    const outgoing = nodeOutgoing(env);
    const chunk = outgoing && pending.get(outgoing);
    if (!outgoing || !chunk) return res;
    pending.delete(outgoing);
    if (res.status !== 200) {
      // Something after the handler turned the answer into an error: send that, release the file.
      if (chunk.file) void chunk.file.close().catch(() => undefined);
      else chunk.open().destroy();
      return res;
    }
    const headers: OutgoingHttpHeaders = {};
    res.headers.forEach((value, name) => {
      headers[name] = value;
    });
    outgoing.writeHead(200, headers);
    // A read error or a client gone destroys both ends (the client sees a short body, never a wrong
    // one); the server's idle and answer deadlines (server-limits.ts) still apply to this socket.
    const file = chunk.file;
    if (file) {
      // A disk chunk: file to socket through reused blocks (storage/send-file.ts).
      sendFile(file, chunk.size, outgoing)
        .catch(() => undefined)
        .finally(() => void file.close().catch(() => undefined));
    } else {
      pipeline(chunk.open(), outgoing).catch(() => undefined);
    }
    return RESPONSE_ALREADY_SENT;
  };
  return app;
}
