/**
 * A fake relay (or any HTTP peer) for a coordinator test: a server on a free 127.0.0.1 port whose answers the
 * subclass gives in `handle`; `stop` cuts its open connections, so a test ends even when a client still holds one.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export abstract class LoopbackServer {
  url = '';
  private readonly server: Server = createServer((req, res) => this.handle(req, res));

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  protected abstract handle(req: IncomingMessage, res: ServerResponse): void;
}
