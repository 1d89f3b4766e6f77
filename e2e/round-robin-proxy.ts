/**
 * One address in front of several coordinators, as a load balancer would be (nginx `upstream` with
 * `proxy_next_upstream error`): requests go to the backends in turn; a backend that refuses the connection
 * is skipped and the request goes to the next, so killing one coordinator costs no request that had not
 * reached it. Request bodies are buffered (coordinator bodies are small: shares never pass through it) so a
 * skipped request can be sent again. Counts requests per backend, so tests see both carry the load.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';

export interface RoundRobinProxy {
  url: string;
  /** Answers given by each backend, by its URL. */
  served: Map<string, number>;
  /** Every answered request: which backend, method, path (without query) and status, in order. */
  log: Array<{ backend: string; method: string; path: string; status: number }>;
  close: () => Promise<void>;
}

/** Largest request body buffered: the coordinator's own bodies are far smaller (http.ts MAX_API_BODY). */
const MAX_BODY = 1024 * 1024;

function forward(backend: URL, method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((res, rej) => {
    const req = request({ host: backend.hostname, port: backend.port, method, path, headers: { ...headers, host: backend.host }, timeout: 30_000 }, (r) => {
      const parts: Buffer[] = [];
      r.on('data', (b: Buffer) => parts.push(b));
      r.on('end', () => res({ status: r.statusCode ?? 502, headers: r.headers, body: Buffer.concat(parts) }));
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error('backend timeout')));
    req.on('error', rej);
    req.end(body);
  });
}

export async function startRoundRobinProxy(port: number, backends: string[]): Promise<RoundRobinProxy> {
  const targets = backends.map((b) => new URL(b));
  const served = new Map<string, number>(backends.map((b) => [new URL(b).origin, 0]));
  const log: RoundRobinProxy['log'] = [];
  let next = 0;
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.length;
      if (size > MAX_BODY) req.destroy();
      else parts.push(b);
    });
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(parts);
        const start = next++;
        for (let i = 0; i < targets.length; i++) {
          const backend = targets[(start + i) % targets.length]!;
          try {
            const r = await forward(backend, req.method ?? 'GET', req.url ?? '/', req.headers, body);
            served.set(backend.origin, (served.get(backend.origin) ?? 0) + 1);
            log.push({ backend: backend.origin, method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0]!, status: r.status });
            const headers = { ...r.headers };
            delete headers['transfer-encoding'];
            headers['content-length'] = String(r.body.length);
            res.writeHead(r.status, headers).end(r.body);
            return;
          } catch (err) {
            // Only a connection that never reached the backend is retried elsewhere (as nginx's `error`).
            if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED') {
              res.writeHead(502).end();
              return;
            }
          }
        }
        res.writeHead(502).end();
      })();
    });
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(port, '127.0.0.1', () => res());
  });
  return {
    url: `http://127.0.0.1:${port}`,
    served,
    log,
    close: () =>
      new Promise<void>((res) => {
        server.closeAllConnections();
        server.close(() => res());
      })
  };
}
