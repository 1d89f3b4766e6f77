/**
 * `npm run bench:cli` (and the end of `npm run bench`): the `kofn` command (issue #20) protecting and
 * retrieving one file with (3,5) on five local relays, against a baseline measured in the same run: plain
 * PUTs and GETs of the same bytes to the same relays from Node, without splitting (n x size up, in 1 MiB
 * bodies, 4 chunks x n relays in flight as the CLI; k shares' worth down, 8 chunks in flight as the CLI).
 *
 * The CLI runs as a user runs it (the real launcher as a child process, the file read from disk, the
 * retrieved file written to stdout into /dev/null: the baseline writes nothing either); its wall time
 * includes starting Node and signing the session in. Peak RSS is the child's maximum resident set as the
 * kernel counts it (GNU time's %M, from wait4's rusage), so it cannot miss a short peak.
 *
 * KOFN_BENCH_CLI_MIB sets the size (default 1024), KOFN_BENCH_ROUNDS the rounds (default 3); the CLI runs
 * first in odd rounds and the baseline first in even ones (a machine drifting slower favours neither), and
 * targets are judged on the median round's ratio: >= 0.8x of the baseline, peak RSS < 200 MB.
 * Each round also runs the CLI with KOFN_WORKERS=0 (the codec on the main thread) next to the default, in
 * alternating order, and reports the median of the rounds' default/no-worker ratios: what the workers buy;
 * KOFN_BENCH_CLI_NO_WORKERS=0 skips those runs (half the time, for a 1 GiB run on a loaded machine).
 * MB = 10^6 bytes for throughput, 2^20 for memory.
 */
import { test } from '@playwright/test';
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { digestRoot, shareChunkBounds } from '@kofn/shared';
import { ADMIN } from '../fixtures.js';
import { startStack, type RunningStack } from '../stack.js';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.KOFN_BENCH_CLI_MIB ?? 1024) * MiB;
const ROUNDS = Number(process.env.KOFN_BENCH_ROUNDS ?? 3);
const TARGET_RATIO = 0.8;
const TARGET_RSS_MB = 200;
const WITH_NO_WORKERS = process.env.KOFN_BENCH_CLI_NO_WORKERS !== '0';
const BIN = resolve(import.meta.dirname, '../../shared/bin/kofn.mjs');

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Runs the CLI under GNU time; answers its seconds and peak RSS (MiB). */
function kofn(args: string[], env: Record<string, string>): Promise<{ seconds: number; rssMiB: number }> {
  const rusage = join(env.KOFN_CONFIG_DIR!, `time-${Date.now()}.txt`);
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rusage, process.execPath, BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.once('error', rej);
    child.once('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      if (code !== 0) {
        rej(new Error(`kofn ${args[0]} exited ${code}: ${err}`));
        return;
      }
      res({ seconds, rssMiB: Number(readFileSync(rusage, 'utf8').trim().split('\n').pop()) / 1024 });
    });
  });
}

interface Session {
  url: string;
  cookie: string;
  csrf: string;
}

async function api<T>(s: Session, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${s.url}${path}`, {
    method,
    headers: { origin: s.url, cookie: `kofn_session=${s.cookie}`, 'x-csrf-token': s.csrf, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/**
 * A body shaped as a share chunk (the relay checks the header, as the web bench's baseline does) of exactly
 * the length the commit expects of chunk `index` (share-sizes.ts), so the baseline file commits and its
 * download is authorised like the CLI's.
 */
function body(fileId: string, index: number, size: number, chunkSize: number): Uint8Array<ArrayBuffer> {
  const len = shareChunkBounds(size, chunkSize, index).min - 40;
  const b = new Uint8Array(40 + len);
  b.set([0x4b, 0x4f, 0x46, 0x4e, 1, index === 0 ? 2 : 0, 1, 2]);
  b.set(Buffer.from(fileId, 'hex'), 8);
  const dv = new DataView(b.buffer);
  dv.setUint32(24, index);
  dv.setUint32(32, len);
  b.set(randomBytes(len), 40);
  return b;
}

interface Placement {
  url: string;
  token: string;
  relayId: string;
}

/** When a relay token expires (ms), from its `exp` claim; the relay verifies it, the bench only reads it. */
function expiresAt(token: string): number {
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { iat: number; exp: number };
  // Renewed a minute (or a quarter of its life, if shorter) early, as the CLI's relay client does (token-expiry.ts).
  return claims.exp * 1000 - Math.min(60_000, ((claims.exp - claims.iat) * 1000) / 4);
}

/**
 * The relay tokens of one file for one operation, renewed before they expire (POST /api/files/:id/tokens, as
 * the CLI does). Why: a relay token lives 15 minutes at most, and at 1 GiB on a loaded machine the baseline's
 * PUT phase (5 GiB) outlived it; the relay then answered 401 before reading the body, and its HTTP layer
 * (@hono/node-server) drains an unread body for only 500 ms before destroying the socket, so under load the
 * bench saw EPIPE instead of the 401 (the 1 GiB run that stopped after 16 minutes).
 */
function relayTokens(s: Session, fileId: string, op: 'put' | 'get', first: Placement[]) {
  let tokens = new Map(first.map((p) => [p.relayId, p.token]));
  let renewAt = Math.min(...first.map((p) => expiresAt(p.token)));
  let renewing: Promise<void> | undefined;
  return async (relayId: string): Promise<string> => {
    if (Date.now() >= renewAt) {
      renewing ??= api<{ tokens: Array<{ relayId: string; token: string }> }>(s, 'POST', `/api/files/${fileId}/tokens`, { op }).then((t) => {
        tokens = new Map(t.tokens.map((x) => [x.relayId, x.token]));
        renewAt = Math.min(...t.tokens.map((x) => expiresAt(x.token)));
        renewing = undefined;
      });
      await renewing;
    }
    return tokens.get(relayId)!;
  };
}

/** Requests of the baseline that failed on the network and were sent again, with why and after how long. */
const retried: string[] = [];
/** Attempts per baseline request: the CLI's relay client makes up to 4 on network errors (relay-client.ts DEFAULT_RETRY). */
const ATTEMPTS = 4;

/**
 * One request of the baseline; a failure names the relay, the chunk and the cause (fetch says only "fetch
 * failed"). A network error (the socket closed under the request: EPIPE, ECONNRESET) is retried after a
 * second, as the CLI's relay client does: a 1 GiB run at load ~54 lost a PUT to EPIPE 6 minutes in, on two
 * relays at once (chunks 373 and 375), with fresh tokens, so the baseline died where the CLI went on. The
 * retries are counted and printed with the figures.
 */
async function relayFetch(p: Placement, what: string, init: RequestInit): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    const t0 = performance.now();
    let res: Response;
    try {
      res = await fetch(`${p.url}${what}`, init);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = `baseline ${init.method ?? 'GET'} ${what} to ${p.url}: ${cause?.code ?? cause?.message ?? String(err)} after ${((performance.now() - t0) / 1000).toFixed(1)} s`;
      if (attempt >= ATTEMPTS) throw new Error(why, { cause: err });
      retried.push(why);
      process.stderr.write(`  (retrying) ${why}\n`);
      await new Promise((r) => setTimeout(r, 1000));
      continue;
    }
    if (!res.ok) throw new Error(`baseline ${init.method ?? 'GET'} ${what} to ${p.url}: ${res.status} ${await res.text()}`);
    return res;
  }
}

/** The unsplit baseline: PUT n x size, commit, then GET k shares' worth; answers both phases' seconds. */
async function baseline(s: Session, size: number): Promise<{ up: number; down: number; fileName: string }> {
  const fileName = `baseline-${Date.now()}.bin`;
  const r = await api<{ fileId: string; chunkCount: number; chunkSize: number; placements: Placement[] }>(s, 'POST', '/api/files', { name: fileName, size, type: '', k: 3 });
  const digests: string[][] = r.placements.map(() => []);
  const putToken = relayTokens(s, r.fileId, 'put', r.placements);
  // One random chunk reused (the relays do not care what the bytes are; randomness is not what is measured).
  const chunk = body(r.fileId, 1, size, r.chunkSize);
  let t0 = performance.now();
  let inflight: Array<Promise<unknown>> = [];
  for (let i = 0; i <= r.chunkCount; i++) {
    const b = i === 0 || i === r.chunkCount ? body(r.fileId, i, size, r.chunkSize) : (new DataView(chunk.buffer).setUint32(24, i), chunk.slice());
    inflight.push(
      Promise.all(
        r.placements.map(async (p, j) => {
          const put = await relayFetch(p, `/v1/files/${r.fileId}/chunks/${i}`, { method: 'PUT', body: b, headers: { authorization: `Bearer ${await putToken(p.relayId)}` } });
          digests[j]![i] = ((await put.json()) as { digest: string }).digest;
        })
      )
    );
    if (inflight.length >= 4) await inflight.shift();
  }
  await Promise.all(inflight);
  const up = (performance.now() - t0) / 1000;
  const roots: Record<string, string> = {};
  for (const [j, p] of r.placements.entries()) roots[p.relayId] = await digestRoot(digests[j]!);
  await api(s, 'POST', `/api/files/${r.fileId}/commit`, { roots });
  const m = await api<{ placements: Placement[] }>(s, 'GET', `/api/files/${r.fileId}/manifest`);
  const getToken = relayTokens(s, r.fileId, 'get', m.placements);
  t0 = performance.now();
  inflight = [];
  for (let i = 0; i <= r.chunkCount; i++) {
    inflight.push(
      Promise.all(
        m.placements.slice(0, 3).map(async (p) => (await relayFetch(p, `/v1/files/${r.fileId}/chunks/${i}`, { headers: { authorization: `Bearer ${await getToken(p.relayId)}` } })).arrayBuffer())
      )
    );
    if (inflight.length >= 8) await inflight.shift();
  }
  await Promise.all(inflight);
  return { up, down: (performance.now() - t0) / 1000, fileName };
}

async function writeRandomFile(path: string, size: number): Promise<void> {
  const out = createWriteStream(path);
  for (let done = 0; done < size; done += MiB) {
    if (!out.write(randomBytes(Math.min(MiB, size - done)))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
}

test('kofn protect and retrieve against plain PUT/GET of the same bytes', async () => {
  test.setTimeout(0);
  const stack: RunningStack = await startStack({ relays: 5, tier: 'Pro' });
  const dir = mkdtempSync(join(tmpdir(), 'kofn-bench-cli-'));
  const env = { KOFN_CONFIG_DIR: join(dir, 'config') };
  const lines: string[] = [];
  try {
    const setup = await fetch(`${stack.url}/api/setup`, { method: 'POST', headers: { origin: stack.url, 'content-type': 'application/json' }, body: JSON.stringify(ADMIN) });
    const csrf = ((await setup.json()) as { csrfToken: string }).csrfToken;
    const cookie = /kofn_session=([^;]*)/.exec(setup.headers.getSetCookie().join(';'))![1]!;
    const s: Session = { url: stack.url, cookie, csrf };
    await new Promise<void>((res, rej) => {
      const login = spawn(process.execPath, [BIN, 'login', stack.url, '--email', ADMIN.email, '--password-stdin'], { env: { ...process.env, ...env }, stdio: ['pipe', 'ignore', 'inherit'] });
      login.stdin.end(`${ADMIN.password}\n`);
      login.once('close', (code) => (code === 0 ? res() : rej(new Error(`login exited ${code}`))));
    });
    const file = join(dir, 'bench.bin');
    await writeRandomFile(file, SIZE);
    const servers = stack.relayProcs.map((r) => r.name).join(',');
    const rounds: Array<{
      protect: number;
      retrieve: number;
      baseUp: number;
      baseDown: number;
      rssUp: number;
      rssDown: number;
      protect0: number;
      retrieve0: number;
      rssUp0: number;
      rssDown0: number;
    }> = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const cli = async (workers?: string) => {
        // A name per round: a removed file's name stays taken while its shares are being deleted.
        const name = `bench-${round}${workers === undefined ? '' : `-w${workers}`}.bin`;
        const e = workers === undefined ? env : { ...env, KOFN_WORKERS: workers };
        const up = await kofn(['protect', file, '--name', name, '-k', '3', '--servers', servers, '--quiet'], e);
        const down = await kofn(['retrieve', name, '-o', '-', '--quiet'], e);
        await kofn(['rm', name], env);
        return { up, down };
      };
      // The worker threads' benefit (issue #20 item 3): the same CLI with KOFN_WORKERS=0 (the codec on the main
      // thread), run next to the default in the same round, in alternating order.
      const pair = async (): Promise<{ dflt: Awaited<ReturnType<typeof cli>>; none: Awaited<ReturnType<typeof cli>> | undefined }> => {
        if (!WITH_NO_WORKERS) return { dflt: await cli(), none: undefined };
        if (round % 2) return { dflt: await cli(), none: await cli('0') };
        const none = await cli('0');
        return { dflt: await cli(), none };
      };
      let p: Awaited<ReturnType<typeof pair>>, b: Awaited<ReturnType<typeof baseline>>;
      if (round % 2) {
        p = await pair();
        b = await baseline(s, SIZE);
      } else {
        b = await baseline(s, SIZE);
        p = await pair();
      }
      const c = p.dflt;
      const files = await api<{ files: Array<{ id: string; name: string }> }>(s, 'GET', '/api/files');
      for (const f of files.files.filter((x) => x.name === b.fileName)) await api(s, 'DELETE', `/api/files/${f.id}`);
      const mb = SIZE / 1e6;
      const r = {
        protect: mb / c.up.seconds,
        retrieve: mb / c.down.seconds,
        baseUp: mb / b.up,
        baseDown: mb / b.down,
        rssUp: c.up.rssMiB,
        rssDown: c.down.rssMiB,
        protect0: p.none ? mb / p.none.up.seconds : NaN,
        retrieve0: p.none ? mb / p.none.down.seconds : NaN,
        rssUp0: p.none ? p.none.up.rssMiB : NaN,
        rssDown0: p.none ? p.none.down.rssMiB : NaN
      };
      rounds.push(r);
      lines.push(
        `  round ${round} (${round % 2 ? 'CLI first' : 'baseline first'}): protect ${r.protect.toFixed(1)} MB/s vs baseline PUT ${r.baseUp.toFixed(1)} MB/s (${(r.protect / r.baseUp).toFixed(2)}x), ` +
          `retrieve ${r.retrieve.toFixed(1)} MB/s vs baseline GET ${r.baseDown.toFixed(1)} MB/s (${(r.retrieve / r.baseDown).toFixed(2)}x); peak RSS protect ${r.rssUp.toFixed(0)} MiB, retrieve ${r.rssDown.toFixed(0)} MiB; ` +
          (WITH_NO_WORKERS
            ? `KOFN_WORKERS=0: protect ${r.protect0.toFixed(1)} MB/s, retrieve ${r.retrieve0.toFixed(1)} MB/s, peak RSS ${r.rssUp0.toFixed(0)} / ${r.rssDown0.toFixed(0)} MiB`
            : 'KOFN_WORKERS=0 runs skipped')
      );
      process.stderr.write(`${lines.at(-1)}\n`);
    }
    const up = median(rounds.map((r) => r.protect / r.baseUp));
    const down = median(rounds.map((r) => r.retrieve / r.baseDown));
    const rss = Math.max(...rounds.flatMap((r) => [r.rssUp, r.rssDown]));
    console.log(
      [
        `\n## kofn CLI, (3,5), ${SIZE / MiB} MiB, ${ROUNDS} rounds (5 local disk relays; baseline: plain PUT/GET of the same bytes from Node, same run)`,
        ...lines,
        `  medians: protect ${median(rounds.map((r) => r.protect)).toFixed(1)} MB/s (baseline ${median(rounds.map((r) => r.baseUp)).toFixed(1)}), retrieve ${median(rounds.map((r) => r.retrieve)).toFixed(1)} MB/s (baseline ${median(rounds.map((r) => r.baseDown)).toFixed(1)})`,
        `  baseline requests retried after a network error: ${retried.length}${retried.length ? ` (first: ${retried[0]})` : ''}`,
        WITH_NO_WORKERS
          ? `  workers (default) against KOFN_WORKERS=0, median of the rounds' ratios: protect ${median(rounds.map((r) => r.protect / r.protect0)).toFixed(2)}x, retrieve ${median(rounds.map((r) => r.retrieve / r.retrieve0)).toFixed(2)}x`
          : '  workers against KOFN_WORKERS=0: not measured (KOFN_BENCH_CLI_NO_WORKERS=0)',
        `  target protect >= ${TARGET_RATIO}x: median ratio ${up.toFixed(2)}x ${up >= TARGET_RATIO ? 'met' : 'NOT met'}`,
        `  target retrieve >= ${TARGET_RATIO}x: median ratio ${down.toFixed(2)}x ${down >= TARGET_RATIO ? 'met' : 'NOT met'}`,
        `  target peak RSS < ${TARGET_RSS_MB} MB: largest ${((rss * MiB) / 1e6).toFixed(0)} MB ${(rss * MiB) / 1e6 < TARGET_RSS_MB ? 'met' : 'NOT met'}`
      ].join('\n')
    );
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
