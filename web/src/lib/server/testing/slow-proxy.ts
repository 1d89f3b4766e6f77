/**
 * A loopback HTTP proxy in front of one relay that holds back chosen requests for a fixed time before
 * passing them on: real, slow relay-to-relay traffic for tests of the relays' idle cut (#16, long silent
 * steps), where a step must outlast the cut when done whole and stay well inside it when done by ranges.
 * A delay is a lower bound on a request's time, so a test can rely on a step being at least that slow.
 * A rule with `status` answers that status itself instead (a relay from before a route, issue #14), and
 * every request is noted in `seen` ("METHOD /path"), so a test can count what reached the relay.
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlowProxy {
  url: string;
  seen: string[];
  close: () => Promise<void>;
}

/** Proxies to `target`; a request whose method and path match a rule waits that rule's `ms` first. */
export async function slowProxy(target: string, rules: Array<{ method: string; path: RegExp; ms: number; status?: number }>): Promise<SlowProxy> {
  const to = new URL(target);
  const seen: string[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    seen.push(`${req.method} ${req.url}`);
    const rule = rules.find((r) => r.method === req.method && r.path.test(req.url ?? ''));
    if (rule?.status !== undefined) {
      req.resume();
      res.writeHead(rule.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'No such route.' } }));
      return;
    }
    const delay = rule?.ms ?? 0;
    req.pause();
    setTimeout(() => {
      const up = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
        // The relay cut the connection mid-answer (its idle timeout): the client sees it cut too.
        answer.on('aborted', () => res.destroy());
      });
      // The relay cut the connection before answering: so does the proxy, as the relay would have.
      up.on('error', () => res.destroy());
      req.pipe(up);
      req.resume();
    }, delay);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      })
  };
}
