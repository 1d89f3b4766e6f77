/**
 * The browser's API client tells a coordinator that does not answer from one that refuses (issue #16):
 * a real server that is closed (connection refused) and one that answers as a proxy in front of a stopped
 * coordinator does (502, an HTML page) both give COORDINATOR_UNREACHABLE; an API error keeps its code.
 * (In Node, navigator.onLine is absent, so "offline" is the browser's case: e2e/tests/offline-messages.spec.ts.)
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { api } from './api.js';

function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server })));
}

const servers: Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

describe('api()', () => {
  it('a coordinator that is not running: COORDINATOR_UNREACHABLE, status 0', async () => {
    const { url, server } = await serve(() => undefined);
    await new Promise((r) => server.close(r));
    await expect(api('GET', `${url}/api/files`)).rejects.toMatchObject({ code: 'COORDINATOR_UNREACHABLE', status: 0 });
  });

  it('a proxy answering 502 with its own page: COORDINATOR_UNREACHABLE; an API error keeps its code', async () => {
    const { url, server } = await serve((req, res) => {
      if (req.url === '/api/proxy') {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad Gateway</h1>');
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } }));
      }
    });
    servers.push(server);
    await expect(api('GET', `${url}/api/proxy`)).rejects.toMatchObject({ code: 'COORDINATOR_UNREACHABLE' });
    await expect(api('GET', `${url}/api/files/x`)).rejects.toMatchObject({ code: 'NOT_FOUND', status: 404 });
  });
});
