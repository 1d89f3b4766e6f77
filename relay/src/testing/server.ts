/** Serves a relay app on a real loopback port (for raw-HTTP tests), with the production limits. */
import { serve } from '@hono/node-server';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import type { Hono } from 'hono';
import { hardenServer } from '../server-limits.js';
import { relayServer } from '../app.js';

// `any`: the helper serves any Hono app whatever its Env type parameter.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function listen(app: Hono<any>): Promise<{ port: number; close: () => Promise<void> }> {
  const server = await new Promise<Server>((res) => {
    const s = serve(
      // The same server as main.ts: chunk PUTs and GETs through the fast path (fast-chunks.ts).
      {
        fetch: app.fetch,
        createServer: relayServer(app),
        hostname: '127.0.0.1',
        port: 0,
        serverOptions: { requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 16 * 1024, connectionsCheckingInterval: 1_000 }
      },
      () => res(s)
    ) as Server;
  });
  hardenServer(server, { maxConnections: 64 });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise((res) => {
        server.closeAllConnections();
        server.close(() => res());
      })
  };
}

/** Sends raw bytes and returns the status line and body of the first response (or '' on reset). */
export function rawRequest(port: number, data: string | Buffer, opts: { endAfterWrite?: boolean; timeoutMs?: number } = {}): Promise<{ status: number; body: string; raw: string }> {
  return new Promise((res) => {
    const socket = connect(port, '127.0.0.1');
    let raw = '';
    const done = () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(raw);
      const body = raw.includes('\r\n\r\n') ? raw.slice(raw.indexOf('\r\n\r\n') + 4) : '';
      res({ status: m ? Number(m[1]) : 0, body, raw });
    };
    socket.setTimeout(opts.timeoutMs ?? 5000, () => socket.destroy());
    socket.on('data', (d) => {
      raw += d.toString('latin1');
    });
    socket.on('close', done);
    socket.on('error', () => undefined);
    socket.write(data, () => {
      if (opts.endAfterWrite) socket.end();
    });
  });
}
