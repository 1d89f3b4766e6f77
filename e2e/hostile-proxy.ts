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
 *     its 15 minutes, then forward again; `tokens` records the token of every share request.
 * Pings, health, listings and CORS preflights always pass, so the relay still looks healthy (and fast).
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as netServer, type AddressInfo } from 'node:net';
import { readdirSync, readFileSync } from 'node:fs';

export type ProxyMode = 'forward' | 'stall-headers' | 'stall-body' | 'flood' | 'expire-once';

const SHARE_CHUNK = /^\/v1\/files\/[0-9a-f]{32}\/chunks\/\d+$/;

/** A free loopback port (for the relay behind the proxy). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = netServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => res(port));
    });
  });
}

export class HostileProxy {
  mode: ProxyMode = 'forward';
  /** Which share-chunk requests misbehave. */
  methods: ReadonlySet<string> = new Set(['GET']);
  /** Share-chunk requests that misbehaved. */
  misbehaved = 0;
  /** Body bytes written in flood mode, over every flooded answer. */
  flooded = 0;
  /** Path and bearer token of every share-chunk request, in order. */
  tokens: Array<{ path: string; token: string }> = [];
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
    const hostile = this.mode !== 'forward' && SHARE_CHUNK.test(req.url ?? '') && this.methods.has(req.method ?? '');
    if (SHARE_CHUNK.test(req.url ?? '')) this.tokens.push({ path: req.url!, token: (req.headers.authorization ?? '').replace(/^Bearer /, '') });
    if (hostile) this.misbehaved += 1;
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
    const upstream = request({ ...this.target, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (!hostile) {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
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
    req.pipe(upstream);
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
