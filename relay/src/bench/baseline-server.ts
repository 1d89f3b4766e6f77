/**
 * The relay benchmark's baseline (issue #14, "Performance"): the least an HTTP server on Node can do to
 * store and serve the same bodies, with no framework, no token, no hashing, no header check.
 *
 *   PUT /<name>  body to `<root>/tmp/<n>.part`, fsync, rename to `<root>/<name>`, fsync the folder, 201:
 *                the durability the relay keeps (acknowledged only after data and directory are synced).
 *   GET /<name>  `fs.createReadStream` piped to the response (`stream.pipeline`), with Content-Length.
 *
 * Run as its own process (like the relay) by bench.ts: `node baseline-server.js <root>`; prints one JSON
 * line `{"event":"listening","url":...}`. Binds 127.0.0.1 only. Never part of the product.
 */
import { createServer } from 'node:http';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

const root = process.argv[2];
if (!root) throw new Error('usage: baseline-server.js <root>');
const tmp = join(root, 'tmp');
mkdirSync(tmp, { recursive: true });
const NAME = /^\/([A-Za-z0-9_-]{1,128})$/;
let seq = 0;

async function fsync(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

const server = createServer((req, res) => {
  const m = NAME.exec(req.url ?? '');
  const fail = (status: number) => {
    if (!res.headersSent) res.writeHead(status, { 'Content-Length': '0' });
    res.end();
  };
  if (!m) {
    fail(404);
    return;
  }
  const path = join(root, m[1]!);
  if (req.method === 'PUT') {
    const part = join(tmp, `${++seq}.part`);
    const out = createWriteStream(part, { flags: 'wx', mode: 0o600 });
    pipeline(req, out)
      .then(() => fsync(part))
      .then(() => rename(part, path))
      .then(() => fsync(root))
      .then(() => {
        res.writeHead(201, { 'Content-Type': 'application/json' });
        res.end('{"stored":true}');
      })
      .catch(() => fail(500));
    return;
  }
  if (req.method === 'GET') {
    stat(path)
      .then((s) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(s.size) });
        return pipeline(createReadStream(path), res);
      })
      .catch(() => fail(404));
    return;
  }
  fail(405);
});

server.listen(0, '127.0.0.1', () => {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('no port');
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${a.port}` })}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
