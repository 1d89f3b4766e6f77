/**
 * The CLI's local parts, on the real file system and a real HTTP server on loopback: the session file's
 * permissions, the coordinator client's bounds and error mapping, the chunker, the output file that never
 * appears half-written, and the exit codes. The commands end to end: e2e/tests/cli.spec.ts.
 */
import { createServer, type Server } from 'node:http';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSession, saveSession } from './config.js';
import { Coordinator, GATEWAY_RETRY_DELAYS_MS, MAX_COORDINATOR_ANSWER, coordinatorOrigin, retrySafe } from './coordinator.js';
import { commitFile } from './protect.js';
import { exitCodeFor } from './exit-codes.js';
import { human, progressFor } from './progress.js';
import { fileSink } from './sink.js';
import { fileSource, stdinSource } from './source.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kofn-cli-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('session file', () => {
  it('is written 0600 in a 0700 folder whatever the umask, and read back', async () => {
    const env = { KOFN_CONFIG_DIR: join(dir, 'cfg') };
    const old = process.umask(0o000);
    try {
      const path = await saveSession({ url: 'http://127.0.0.1:1', email: 'a@b.c', cookie: 'c00kie', csrfToken: 'csrf' }, env);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(env.KOFN_CONFIG_DIR)).mode & 0o777).toBe(0o700);
    } finally {
      process.umask(old);
    }
    expect(await loadSession(env)).toEqual({ url: 'http://127.0.0.1:1', email: 'a@b.c', cookie: 'c00kie', csrfToken: 'csrf' });
  });

  it('security: a session file others can read is refused, not used', async () => {
    const env = { KOFN_CONFIG_DIR: join(dir, 'cfg-open') };
    const path = await saveSession({ url: 'http://x', email: '', cookie: 'c', csrfToken: 't' }, env);
    await chmod(path, 0o640);
    await expect(loadSession(env)).rejects.toMatchObject({ code: 'NOT_SIGNED_IN' });
  });

  it('no session: NOT_SIGNED_IN telling what to run', async () => {
    await expect(loadSession({ KOFN_CONFIG_DIR: join(dir, 'none') })).rejects.toMatchObject({ code: 'NOT_SIGNED_IN', message: expect.stringContaining('kofn login') });
  });
});

describe('coordinator client', () => {
  let server: Server;
  let url = '';
  let lastHeaders: Record<string, string | string[] | undefined> = {};
  /** Requests seen per method and path, for the retry tests. */
  const seen = new Map<string, number>();
  let committed = false;
  const FILE = 'ab'.repeat(16);
  beforeAll(async () => {
    server = createServer((req, res) => {
      lastHeaders = req.headers;
      const key = `${req.method} ${req.url}`;
      const n = (seen.get(key) ?? 0) + 1;
      seen.set(key, n);
      // A load balancer whose coordinator died: 502 with its own page, no kofn error code.
      const gateway = () => res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>502 Bad Gateway</h1>');
      if (req.url === '/gateway-once' && n === 1) return gateway();
      if (req.url === '/gateway-always' || req.url === '/api/files') return gateway();
      if (req.url === '/reset-once' && n === 1) return req.socket.destroy();
      if (req.url === '/busy') {
        res.writeHead(503, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { code: 'UNAVAILABLE', message: 'Not enough storage servers are online.' } }));
      }
      if (req.url === `/api/files/${FILE}/tokens` && n === 1) return gateway();
      if (req.url === `/api/files/${FILE}/commit`) {
        // The first commit went through on a coordinator that died before answering; the second finds no reservation.
        if (n === 1) return gateway();
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'File not found on the servers.' } }));
      }
      if (req.url === `/api/files/${FILE}/manifest`) {
        res.writeHead(committed ? 200 : 404, { 'content-type': 'application/json' });
        return res.end(committed ? '{"fileId":"x"}' : JSON.stringify({ error: { code: 'NOT_FOUND', message: 'File not found.' } }));
      }
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        const piece = Buffer.alloc(1024 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent <= MAX_COORDINATOR_ANSWER) {
            sent += piece.length;
            if (!res.write(piece)) return res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      if (req.url === '/err') {
        res.writeHead(409, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { code: 'FILENAME_IN_USE', message: 'Filename is already in use.' } }));
      }
      if (req.url === '/odd') {
        res.writeHead(418, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { code: 'SOMETHING_ELSE', message: 'x' } }));
      }
      if (req.url === '/401') {
        res.writeHead(401);
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('sends Origin, the session cookie and, on writes, the CSRF token', async () => {
    const api = new Coordinator(`${url}/some/path`, { cookie: 'sess', csrfToken: 'tok' });
    expect(await api.call('POST', '/ok', {})).toEqual({ ok: true });
    expect(lastHeaders.origin).toBe(url);
    expect(lastHeaders.cookie).toBe('kofn_session=sess');
    expect(lastHeaders['x-csrf-token']).toBe('tok');
  });

  it("passes the coordinator's stable code on; an unknown code or 401 maps to ours", async () => {
    const api = new Coordinator(url);
    await expect(api.call('GET', '/err')).rejects.toMatchObject({ code: 'FILENAME_IN_USE', message: 'Filename is already in use.' });
    await expect(api.call('GET', '/odd')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(api.call('GET', '/401')).rejects.toMatchObject({ code: 'NOT_SIGNED_IN' });
  });

  it('security: an answer past the bound is cut off, not buffered', async () => {
    await expect(new Coordinator(url).call('GET', '/huge')).rejects.toMatchObject({ code: 'COORDINATOR_UNREACHABLE', message: expect.stringContaining('larger than') });
  });

  it('nothing listening: COORDINATOR_UNREACHABLE naming the address', async () => {
    await expect(new Coordinator('http://127.0.0.1:9').call('GET', '/api/files')).rejects.toMatchObject({ code: 'COORDINATOR_UNREACHABLE', message: expect.stringContaining('127.0.0.1:9') });
  });

  it("a gateway's failure (502 without a kofn code, a reset connection) is tried again for reads and token minting", async () => {
    const api = new Coordinator(url, { cookie: 'sess', csrfToken: 'tok' });
    expect(await api.call('GET', '/gateway-once')).toEqual({ ok: true });
    expect(seen.get('GET /gateway-once')).toBe(2);
    expect(await api.call('GET', '/reset-once')).toEqual({ ok: true });
    expect(seen.get('GET /reset-once')).toBe(2);
    expect(await api.call('POST', `/api/files/${FILE}/tokens`, { op: 'put' })).toEqual({ ok: true });
    expect(seen.get(`POST /api/files/${FILE}/tokens`)).toBe(2);
  });

  it('retries are bounded, and never repeat what could be done twice or what the coordinator itself refused', async () => {
    const api = new Coordinator(url, { cookie: 'sess', csrfToken: 'tok' });
    await expect(api.call('GET', '/gateway-always')).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'The kofn server answered 502.' });
    expect(seen.get('GET /gateway-always')).toBe(1 + GATEWAY_RETRY_DELAYS_MS.length);
    // A reservation sent twice would reserve twice.
    await expect(api.call('POST', '/api/files', { name: 'x' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(seen.get('POST /api/files')).toBe(1);
    // 503 with the coordinator's own code is its answer, not a gateway's.
    await expect(api.call('GET', '/busy')).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'Not enough storage servers are online.' });
    expect(seen.get('GET /busy')).toBe(1);
    expect(retrySafe('POST', `/api/files/${FILE}/commit`)).toBe(true);
    expect(retrySafe('POST', '/api/files/commit')).toBe(false);
    expect(retrySafe('DELETE', `/api/files/${FILE}`)).toBe(false);
  });

  it('a commit whose answer was lost is done when its manifest reads, and NOT_FOUND when it does not', async () => {
    const api = new Coordinator(url, { cookie: 'sess', csrfToken: 'tok' });
    committed = true;
    await expect(commitFile(api, FILE, {})).resolves.toBeUndefined();
    expect(seen.get(`POST /api/files/${FILE}/commit`)).toBe(2);
    committed = false;
    await expect(commitFile(api, FILE, {})).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'File not found on the servers.' });
  });

  it('addresses: a bare host means https; other schemes are refused', () => {
    expect(coordinatorOrigin('kofn.example.org/x')).toBe('https://kofn.example.org');
    expect(coordinatorOrigin('http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080');
    expect(() => coordinatorOrigin('ftp://x')).toThrow(expect.objectContaining({ code: 'CLI_USAGE' }));
  });
});

describe('sources and chunks', () => {
  it('a missing file or a folder is FILE_UNREADABLE before anything is sent', async () => {
    await expect(fileSource(join(dir, 'nope'))).rejects.toMatchObject({ code: 'FILE_UNREADABLE', message: expect.stringContaining('no such file') });
    await expect(fileSource(dir)).rejects.toMatchObject({ code: 'FILE_UNREADABLE' });
  });

  it('stdin without a size is spooled to a private file that dispose() removes', async () => {
    const src = await stdinSource(Readable.from([Buffer.from('hello '), Buffer.from('world')]), 'x.txt');
    expect(src.size).toBe(11);
    const spool = (await readdir(tmpdir())).filter((n) => n.startsWith('kofn-stdin-'));
    expect(spool.length).toBeGreaterThan(0);
    const chunks: Uint8Array[] = [];
    for await (const c of src.open()) chunks.push(c);
    expect(Buffer.concat(chunks).toString()).toBe('hello world');
    await src.dispose();
  });
});

describe('output file', () => {
  it('appears under its name only when closed; an aborted one leaves nothing', async () => {
    const path = join(dir, 'out.bin');
    const ok = await fileSink(path, false);
    await ok.write(new Uint8Array([1, 2, 3]));
    await expect(stat(path)).rejects.toMatchObject({ code: 'ENOENT' });
    await ok.close();
    expect([...(await readFile(path))]).toEqual([1, 2, 3]);

    const failed = await fileSink(join(dir, 'failed.bin'), false);
    await failed.write(new Uint8Array([9]));
    await failed.abort();
    expect((await readdir(dir)).filter((n) => n === 'failed.bin' || n.endsWith('.kofn-partial'))).toEqual([]);
  });

  it('an existing file is not replaced without --force', async () => {
    const path = join(dir, 'keep.txt');
    await writeFile(path, 'keep');
    await expect(fileSink(path, false)).rejects.toMatchObject({ code: 'CLI_USAGE' });
    const forced = await fileSink(path, true);
    await forced.write(new TextEncoder().encode('new'));
    await forced.close();
    expect(await readFile(path, 'utf8')).toBe('new');
  });
});

describe('exit codes', () => {
  it('follow the documented table', () => {
    expect(exitCodeFor('CLI_USAGE')).toBe(2);
    expect(exitCodeFor('FILE_UNREADABLE')).toBe(2);
    expect(exitCodeFor('THRESHOLD_TOO_HIGH')).toBe(2);
    expect(exitCodeFor('UNKNOWN_SERVER')).toBe(2);
    expect(exitCodeFor('NOT_SIGNED_IN')).toBe(3);
    expect(exitCodeFor('INVALID_CREDENTIALS')).toBe(3);
    expect(exitCodeFor('COORDINATOR_UNREACHABLE')).toBe(4);
    expect(exitCodeFor('RELAYS_OFFLINE')).toBe(4);
    expect(exitCodeFor('AUTH_FAILED')).toBe(1);
    expect(exitCodeFor('CANCELLED')).toBe(130);
    // A closed standard output (kofn retrieve -o - | head): the operation failed, it was not cancelled.
    expect(exitCodeFor('OUTPUT_CLOSED')).toBe(1);
    // A layout that cannot be served is bad input, whichever rule it breaks (issue #21).
    for (const code of ['LAYOUT_INVALID', 'LAYOUT_RELAY_TWICE', 'LAYOUT_EMPTY_GROUP', 'LAYOUT_GROUP_THRESHOLD', 'LAYOUT_TOP_THRESHOLD', 'LAYOUT_UNKNOWN_RELAY', 'LAYOUT_NOT_SUPPORTED'] as const) {
      expect(exitCodeFor(code)).toBe(2);
    }
  });
});

describe('progress', () => {
  it('draws a bar with cli-progress when enabled, and nothing when not', () => {
    const bar = progressFor(true);
    bar.start('protect x', 3 * 1024 * 1024);
    bar.update(1024 * 1024);
    bar.stop();
    const quiet = progressFor(false);
    quiet.start('x', 1);
    quiet.update(1);
    quiet.stop();
    expect(human(0)).toBe('0 B');
    expect(human(1536)).toBe('1.5 KiB');
    expect(human(256 * 1024 * 1024)).toBe('256.0 MiB');
  });
});

describe('resumable output file', () => {
  it('continues after the last whole chunk of its hidden part, and a failure of the network keeps the part', async () => {
    const out = join(dir, 'resumed.bin');
    const resume = { fileId: 'cd'.repeat(16), chunkSize: 4 };
    const first = await fileSink(out, false, resume);
    expect(first.resumeAt).toBe(0);
    await first.write(Buffer.from('abcdefghij')); // two whole chunks and half of a third
    await first.abort(true);
    const part = join(dir, `.resumed.bin.${resume.fileId}.kofn-partial`);
    expect((await stat(part)).mode & 0o777).toBe(0o600);
    const second = await fileSink(out, false, resume);
    expect(second.resumeAt).toBe(8);
    await second.write(Buffer.from('IJKL'));
    await second.close();
    expect(await readFile(out, 'utf8')).toBe('abcdefghIJKL');
    expect((await readdir(dir)).filter((n) => n.includes('kofn-partial'))).toEqual([]);
    // Cancelled (not kept): the part goes.
    const third = await fileSink(join(dir, 'cancelled.bin'), false, resume);
    await third.write(Buffer.from('abcd'));
    await third.abort(false);
    expect((await readdir(dir)).filter((n) => n.includes('kofn-partial'))).toEqual([]);
  });

  it('refuses a part that others can read', async () => {
    const resume = { fileId: 'ef'.repeat(16), chunkSize: 4 };
    await writeFile(join(dir, `.shared.bin.${resume.fileId}.kofn-partial`), 'abcd', { mode: 0o644 });
    await chmod(join(dir, `.shared.bin.${resume.fileId}.kofn-partial`), 0o644);
    await expect(fileSink(join(dir, 'shared.bin'), false, resume)).rejects.toMatchObject({ code: 'FILE_UNREADABLE' });
  });
});

describe('link expiry and completion', () => {
  it('reads 90m, 12h, 7d and dates, and refuses anything else', async () => {
    const { parseExpiry } = await import('./commands.js');
    const now = Date.UTC(2030, 0, 1);
    expect(parseExpiry('90m', now).getTime()).toBe(now + 90 * 60_000);
    expect(parseExpiry('12h', now).getTime()).toBe(now + 12 * 3_600_000);
    expect(parseExpiry('7d', now).getTime()).toBe(now + 7 * 86_400_000);
    expect(parseExpiry('2030-01-31', now).toISOString()).toBe('2030-01-31T00:00:00.000Z');
    for (const bad of ['soon', '7w', '-1d', '', '12']) expect(() => parseExpiry(bad, now), bad).toThrow(expect.objectContaining({ code: 'CLI_USAGE' }));
  });

  it("lists every command's options as its help does", async () => {
    const { COMMAND_OPTIONS, completionScript } = await import('./completion.js');
    const { HELP } = await import('./help.js');
    for (const [cmd, opts] of Object.entries(COMMAND_OPTIONS)) {
      expect(HELP[cmd], cmd).toBeDefined();
      for (const o of opts) expect(HELP[cmd], `${cmd} ${o}`).toContain(o.replace(/^--output$/, '-o'));
    }
    expect(completionScript('bash')).toContain('complete -o filenames -o default -F _kofn kofn');
    expect(completionScript('zsh')).toMatch(/^#compdef kofn/);
    expect(() => completionScript('fish')).toThrow(expect.objectContaining({ code: 'CLI_USAGE' }));
  });
});
