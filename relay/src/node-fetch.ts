/**
 * A `fetch` for a relay's own requests to other relays (RelayClientOptions.fetch) that sends a byte body
 * without copying it. Node's fetch (undici) copies every Uint8Array body into a fresh ArrayBuffer
 * (`extractBody`, "BufferSource"); a dealer sends n of them per 1 MiB chunk, and those copies live until the
 * socket has written them, so they outlive scavenges and pile up in the old generation between mark-compacts:
 * at n = 5 they were most of a dealer's peak RSS in the renewal bench (relay/src/bench/durability-bench.ts,
 * #15). node:http writes the caller's bytes to the socket as they are.
 *
 * The promise settles only once the request body is written or the request is gone (`close`), never on an
 * early answer alone: the caller reuses and wipes its body buffer as soon as every send has settled, and no
 * byte of it may still be on its way out then. Bodies other than bytes or a string go to the global fetch.
 * Bounds stay the caller's (RelayClient's Deadline): the signal aborts the request and the answer's stream.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

/** Statuses whose Response must have a null body (Fetch standard, "null body status"). */
const NULL_BODY = new Set([204, 205, 304]);

export function nodeFetch(input: string, init: RequestInit = {}): Promise<Response> {
  const body = init.body ?? undefined;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Uint8Array)) return fetch(input, init);
  const url = new URL(input);
  const headers: OutgoingHttpHeaders = {};
  new Headers(init.headers).forEach((value, name) => (headers[name] = value));
  if (body !== undefined) headers['content-length'] = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  const signal = init.signal ?? undefined;
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<Response>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const req = send(url, { method: init.method ?? 'GET', headers, ...(signal ? { signal } : {}) });
    const sent = new Promise<void>((done) => {
      req.once('finish', done);
      req.once('close', done);
    });
    req.on('error', reject); // after the answer too (a reset mid-body): settled already, then a no-op
    req.once('response', (res: IncomingMessage) => {
      res.on('error', () => undefined); // the reader sees it through the web stream; none must go unhandled
      // The answer's stream ends with the signal too (node:http stops the request; this stops the reader).
      signal?.addEventListener('abort', () => res.destroy(signal.reason as Error), { once: true });
      const empty = NULL_BODY.has(res.statusCode ?? 0);
      if (empty) res.resume();
      let answer: Response;
      try {
        answer = new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), {
          status: res.statusCode ?? 0,
          headers: answerHeaders(res.rawHeaders)
        });
      } catch (err) {
        // A status outside 200..599 or a header fetch would refuse: no answer, as fetch would say.
        res.destroy();
        reject(err);
        return;
      }
      void sent.then(() => resolve(answer));
    });
    req.end(body);
  });
}

/** The answer's headers; a name or value `Headers` refuses (a hostile relay's) fails the request. */
function answerHeaders(raw: readonly string[]): Headers {
  const h = new Headers();
  for (let i = 0; i + 1 < raw.length; i += 2) h.append(raw[i]!, raw[i + 1]!);
  return h;
}
