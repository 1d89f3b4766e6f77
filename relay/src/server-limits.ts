/**
 * Limits below the app: connection cap, and malformed requests that Node's HTTP parser rejects before
 * Hono sees them (oversized headers, duplicate or conflicting Content-Length, bad chunked encoding)
 * still get a 4xx with a JSON error code instead of a bare 400 or a reset.
 */
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';

function reply(socket: Duplex, status: number, reason: string, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

export function hardenServer(server: Server, opts: { maxConnections: number }): void {
  server.maxConnections = opts.maxConnections;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable || err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    if (err.code === 'HPE_HEADER_OVERFLOW') return reply(socket, 431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE', 'Request headers are too large.');
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return reply(socket, 408, 'Request Timeout', 'BAD_REQUEST', 'The request took too long.');
    return reply(socket, 400, 'Bad Request', 'BAD_REQUEST', 'Malformed HTTP request.');
  });
}
