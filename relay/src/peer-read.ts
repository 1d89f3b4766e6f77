/**
 * A relay's bounded GET of another relay's bytes (repair terms, a copied share chunk; #16), over node:http.
 *
 * Why not fetch (what this replaces in repair.ts): undici hands the body through a web ReadableStream, one
 * promise and one fresh buffer per piece, and the receiver then kept each whole 1 MiB term in a buffer of
 * its own until all k had come (k MiB per chunk in flight). Here each piece of the answer goes to the
 * caller's sink as the socket delivers it: a repair receiver adds it into the chunk's sum at once
 * (TermAdder), a copy writes it into the chunk's one buffer.
 *
 * Bounds (issue #13: every read of another party's answer is bounded in size and time): the answer must
 * declare its length (an honest relay always does: a term or a chunk is sent whole) and that length must be
 * within `maxBytes`; more bytes than declared, or fewer, fail the read; the whole exchange (head and body)
 * must end within `timeoutMs`, after which the request is destroyed. Error answers are not read at all.
 */
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { KofnError, xorInto } from '@kofn/shared';

/** Kept-alive sockets per peer: a repair receiver asks each helper for several chunks' terms at once. */
const agent = new Agent({ keepAlive: true, maxSockets: 16, maxFreeSockets: 16 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 16, maxFreeSockets: 16 });

export interface PeerHead {
  status: number;
  headers: IncomingHttpHeaders;
  /** The declared body length (present on every 200 answer that reaches a sink). */
  length: number;
}

/** Where a 200 answer's body goes: `write` gets each piece in order; `end` once the declared length is in. */
export interface BodySink {
  write(piece: Buffer): void;
  end(): void;
}

/**
 * GETs `url` with `headers`. For a 200 answer with an acceptable declared length, `sink(head)` is asked for
 * the body's destination; any other answer is answered without reading its body. Rejects with RELAY_TIMEOUT
 * (no answer in time, or a connection that failed), RELAY_ANSWER_TOO_LARGE (declared over the bound, or more
 * bytes than declared) or RELAY_BAD_ANSWER (no declared length, or fewer bytes than declared); a throw of
 * the sink rejects with that error. `signal` (optional) aborts the read, e.g. when a sibling read failed.
 */
export function peerGet(url: string, headers: Record<string, string>, bounds: { maxBytes: number; timeoutMs: number; signal?: AbortSignal }, sink: (head: PeerHead) => BodySink): Promise<PeerHead> {
  const u = new URL(url);
  const https = u.protocol === 'https:';
  const signal = bounds.signal ? AbortSignal.any([bounds.signal, AbortSignal.timeout(bounds.timeoutMs)]) : AbortSignal.timeout(bounds.timeoutMs);
  return new Promise<PeerHead>((resolve, reject) => {
    let settled = false;
    // The deadline covers the whole exchange, head and body, through a listener of its own: a body that
    // stalls after the head must be cut too, whatever node:http does with a signal once the request is sent
    // (node-fetch.ts adds its own for the same reason).
    const onAbort = () => {
      fail(new KofnError('RELAY_TIMEOUT', 'A repair peer did not answer in time.'));
    };
    const done = (head: PeerHead) => {
      settled = true;
      signal.removeEventListener('abort', onAbort);
      resolve(head);
    };
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      // A deadline that passed mid-body shows as a closed answer or an abort error: it is the time bound.
      if (signal.aborted || !(err instanceof KofnError)) reject(new KofnError('RELAY_TIMEOUT', 'A repair peer did not answer in time.'));
      else reject(err);
    };
    const req = (https ? httpsRequest : request)(u, { method: 'GET', headers, agent: https ? httpsAgent : agent });
    req.on('error', fail);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    req.once('response', (res) => {
      // An error or a 'close' before 'end': the connection went away mid-body (the deadline, if it passed, wins).
      const cut = () => {
        fail(new KofnError('RELAY_BAD_ANSWER', 'A repair peer\u2019s answer ended before its length.'));
      };
      res.on('error', cut);
      res.once('close', cut);
      const status = res.statusCode ?? 0;
      const raw = res.headers['content-length'];
      const length = raw !== undefined && /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
      const head: PeerHead = { status, headers: res.headers, length };
      if (status !== 200) {
        // An error answer's body is not needed (the status says it all): drop the connection unread.
        done(head);
        res.destroy();
        return;
      }
      if (!Number.isSafeInteger(length)) {
        fail(new KofnError('RELAY_BAD_ANSWER', 'A repair peer\u2019s answer did not declare its length.'));
        return;
      }
      if (length > bounds.maxBytes) {
        fail(new KofnError('RELAY_ANSWER_TOO_LARGE', 'A repair peer\u2019s answer is too large.'));
        return;
      }
      let into: BodySink;
      try {
        into = sink(head);
      } catch (err) {
        fail(err);
        return;
      }
      let received = 0;
      res.on('data', (piece: Buffer) => {
        if (settled) return;
        received += piece.length;
        if (received > length) {
          fail(new KofnError('RELAY_ANSWER_TOO_LARGE', 'A repair peer\u2019s answer is too large.'));
          return;
        }
        try {
          into.write(piece);
        } catch (err) {
          fail(err);
        }
      });
      res.once('end', () => {
        if (settled) return;
        if (received !== length) {
          fail(new KofnError('RELAY_BAD_ANSWER', 'A repair peer\u2019s answer ended before its length.'));
          return;
        }
        try {
          into.end();
        } catch (err) {
          fail(err);
          return;
        }
        done(head);
      });
    });
    req.end();
  });
}

/** A sink that gathers the body into one buffer of the declared length (a copied chunk). */
export class Gather implements BodySink {
  readonly bytes: Buffer;
  #at = 0;

  constructor(length: number) {
    this.bytes = Buffer.allocUnsafe(length);
  }

  write(piece: Buffer): void {
    this.#at += piece.copy(this.bytes, this.#at);
  }

  end(): void {
    /* the length was checked by peerGet */
  }
}

/** Staging block of a TermAdder: pieces are copied in, and added into the sum a block at a time. */
const STAGE_BYTES = 64 * 1024;

/**
 * A sink that adds (XORs, GF(2^8) addition) one repair term into the chunk's running sum as its pieces
 * arrive, so a receiver holds one sum per chunk instead of k whole terms. Socket pieces come at any offset
 * and length; they are copied into a staging block (memcpy) and the block is XORed into the sum 32 bits at
 * a time, at offsets that stay aligned (the sum's own offset is a multiple of 4: it sits behind the 40-byte
 * header). A term is masked (uniform on its own, repair.md), but the block is wiped at the end anyway.
 */
export class TermAdder implements BodySink {
  readonly #sum: Uint8Array;
  readonly #stage = Buffer.allocUnsafe(STAGE_BYTES);
  #filled = 0;
  #base = 0;

  constructor(sum: Uint8Array) {
    this.#sum = sum;
  }

  write(piece: Buffer): void {
    let p = 0;
    while (p < piece.length) {
      const n = piece.copy(this.#stage, this.#filled, p, Math.min(piece.length, p + STAGE_BYTES - this.#filled));
      this.#filled += n;
      p += n;
      if (this.#filled === STAGE_BYTES) this.#flush();
    }
  }

  end(): void {
    this.#flush();
    this.#stage.fill(0);
  }

  #flush(): void {
    if (this.#base + this.#filled > this.#sum.length) throw new KofnError('SHARE_LENGTH_MISMATCH', 'Repair contributions differ in length.');
    xorInto(this.#sum.subarray(this.#base, this.#base + this.#filled), this.#stage.subarray(0, this.#filled));
    this.#base += this.#filled;
    this.#filled = 0;
  }
}
