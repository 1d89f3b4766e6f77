/**
 * A loopback HTTP proxy in front of a REAL relay, for hostile-relay tests (issue #13 items 3, 4). The relay's
 * public URL points here, so the coordinator hands this address to browsers. It forwards everything as is
 * until told to misbehave on share-chunk requests (GET or PUT /v1/files/:id/chunks/:index), the way a
 * malicious relay or a broken network would:
 *   - 'stall-headers': take the request and never answer;
 *   - 'stall-body': forward the relay's headers and the first 100 body bytes, then go silent;
 *   - 'flood': forward the relay's answer (its CORS headers included) without its length, then send
 *     garbage for ever; `flooded` counts what the browser accepted before it hung up;
 *   - 'expire-once': answer the next share request 401 TOKEN_EXPIRED, as a relay does for a token past
 *     its 15 minutes, then forward again; `tokens` records the token of every share request;
 *   - 'reset': drop the connection at once, as a relay whose process or host went down.
 * `hostileAfter` lets that many share requests through first (a relay failing late in a transfer).
 * `rate` paces share-chunk bodies, both ways and over all connections together, to that many bytes a
 * second, as a slow link would (issue #14: a transfer that outlasts its tokens); requests still start
 * when the browser sends them, so each one meets whatever token the browser holds at that moment.
 * Pings, health, listings and CORS preflights always pass, so the relay still looks healthy (and fast).
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';

export type ProxyMode = 'forward' | 'stall-headers' | 'stall-body' | 'flood' | 'expire-once' | 'reset';

/** Pieces paced one at a time: small enough that a paced body flows smoothly, not in bursts. */
const PACE_PIECE = 16 * 1024;

const SHARE_CHUNK = /^\/v1\/files\/[0-9a-f]{32}\/chunks\/\d+$/;

/** A free loopback port (for the relay behind the proxy): see web/scripts/free-port.mjs for why not listen(0). */
export { freePort } from '../web/scripts/free-port.mjs';

export class HostileProxy {
  mode: ProxyMode = 'forward';
  /** Which share-chunk requests misbehave. */
  methods: ReadonlySet<string> = new Set(['GET']);
  /** Share-chunk requests that misbehaved. */
  misbehaved = 0;
  /** Body bytes written in flood mode, over every flooded answer. */
  flooded = 0;
  /** Path, method, bearer token, arrival time and the relay's answer status of every share-chunk request, in order. */
  tokens: Array<{ path: string; method: string; token: string; at: number; status?: number }> = [];
  /** Share-chunk requests (of `methods`) forwarded as they are before the mode applies. */
  hostileAfter = 0;
  /** Bytes a second for share-chunk bodies, both ways, all connections together; undefined: no pacing. */
  rate: number | undefined;
  /** When the paced link is next free (performance.now() time). */
  private linkFreeAt = 0;
  url = '';
  private readonly server: Server;
  private readonly timers = new Set<ReturnType<typeof setInterval>>();

  constructor(private readonly target: { host: string; port: number }) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const share = SHARE_CHUNK.test(req.url ?? '');
    const counted = share && this.methods.has(req.method ?? '') ? this.tokens.filter((t) => this.methods.has(t.method)).length : 0;
    const hostile = this.mode !== 'forward' && share && this.methods.has(req.method ?? '') && counted >= this.hostileAfter;
    const seen = { path: req.url!, method: req.method ?? '', token: (req.headers.authorization ?? '').replace(/^Bearer /, ''), at: Date.now() } as HostileProxy['tokens'][number];
    if (share) this.tokens.push(seen);
    if (hostile) this.misbehaved += 1;
    if (hostile && this.mode === 'reset') {
      req.socket.destroy();
      return;
    }
    if (hostile && this.mode === 'expire-once') {
      this.mode = 'forward';
      req.resume();
      res.writeHead(401, { 'content-type': 'application/json', 'access-control-allow-origin': req.headers.origin ?? '*', vary: 'Origin' });
      res.end(JSON.stringify({ error: { code: 'TOKEN_EXPIRED', message: 'The access token has expired.' } }));
      return;
    }
    if (hostile && this.mode === 'stall-headers') {
      req.resume(); // read the upload, answer nothing
      return;
    }
    const paced = share && !hostile && this.rate !== undefined;
    const upstream = request({ ...this.target, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      seen.status = answer.statusCode;
      if (!hostile) {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        // A slow link still delivers the headers at once; only the body is paced.
        if (paced) res.flushHeaders();
        if (paced) void this.pump(answer, res);
        else answer.pipe(res);
        return;
      }
      const headers = { ...answer.headers };
      if (this.mode === 'flood') delete headers['content-length'];
      res.writeHead(answer.statusCode ?? 502, headers);
      if (this.mode === 'stall-body') {
        let sent = 0;
        answer.on('data', (c: Buffer) => {
          if (sent < 100) res.write(c.subarray(0, 100 - sent));
          sent += c.length;
        });
        return;
      }
      answer.on('data', (c: Buffer) => res.write(c));
      answer.on('end', () => this.floodOn(res));
    });
    upstream.on('error', () => res.destroy());
    if (paced) void this.pump(req, upstream);
    else req.pipe(upstream);
  }

  /** Waits for the paced link's turn to carry `bytes` more (one shared link: see `rate`). */
  private async pace(bytes: number): Promise<void> {
    // Lifted while a body was being paced: the rest goes at once. (Dividing by the missing rate made the
    // link's clock NaN, which turned pacing off for good: a test that paced again later was not paced.)
    if (this.rate === undefined) return;
    const now = performance.now();
    this.linkFreeAt = Math.max(now, this.linkFreeAt) + (bytes * 1000) / this.rate;
    const wait = this.linkFreeAt - now;
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }

  /** Copies `from` to `to` at the paced rate, honouring `to`'s backpressure; a failure on either side ends both. */
  private async pump(from: Readable, to: Writable): Promise<void> {
    try {
      for await (const chunk of from as AsyncIterable<Buffer>) {
        for (let at = 0; at < chunk.length; at += PACE_PIECE) {
          const piece = chunk.subarray(at, at + PACE_PIECE);
          await this.pace(piece.length);
          if (to.destroyed) throw new Error('the other side went away');
          if (!to.write(piece)) await drained(to);
        }
      }
      to.end();
    } catch {
      from.destroy();
      to.destroy();
    }
  }

  /** Writes 64 KiB of garbage whenever the socket can take it, until the browser goes away. */
  private floodOn(res: ServerResponse): void {
    const piece = Buffer.alloc(64 * 1024, 0x5a);
    const t = setInterval(() => {
      if (res.destroyed || res.writableEnded) {
        clearInterval(t);
        this.timers.delete(t);
        return;
      }
      while (res.write(piece)) this.flooded += piece.length;
      this.flooded += piece.length;
    }, 1);
    this.timers.add(t);
    res.once('close', () => {
      clearInterval(t);
      this.timers.delete(t);
    });
  }
}

/** Resolves when `to` can take more, or has closed (then the next write fails the pump). */
function drained(to: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      to.off('drain', done);
      to.off('close', done);
      resolve();
    };
    to.on('drain', done);
    to.on('close', done);
  });
}

/**
 * Resident memory (bytes) of every Chromium process this test process started (its descendants), from
 * /proc: the browser, renderer (with its workers), network and GPU processes. Other engineers' browsers
 * on the machine are not descendants, so they do not count.
 */
export function chromiumRss(root = process.pid): number {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name in parentheses, which may itself hold spaces.
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // the process ended meanwhile
    }
  }
  const descends = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  let total = 0;
  for (const pid of parent.keys()) {
    if (!descends(pid)) continue;
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      if (!/^Name:\s*chrom/m.test(status)) continue;
      total += Number(/^VmRSS:\s*(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}
