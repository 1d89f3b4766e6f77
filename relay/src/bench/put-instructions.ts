/**
 * `node relay/dist/bench/put-instructions.js`: CPU instructions a chunk PUT costs per MiB, relay against the
 * minimal node:http baseline (./baseline-server.ts), counted by Valgrind's callgrind (issue #14).
 *
 * Why instructions: the machine this runs on is shared and loaded, so wall-clock MB/s and even CPU time per
 * MB move from run to run with the load (cache and scheduler effects). An instruction count does not: it is
 * the work the server does, repeatable to about 1% (callgrind counts user-space instructions of every
 * thread: the main thread, the libuv pool's writes and fsync calls, V8's GC helpers; not the kernel's own
 * work inside a syscall, which the relay and the baseline share: the same bytes written and synced).
 *
 * How: each server runs under `valgrind --tool=callgrind`; the client (this process, not under Valgrind)
 * first uploads a warm-up file (JIT compiled, pools filled, the relay's token cache warm), then
 * `callgrind_control --zero`, then uploads the measured files (PER_FILE chunks of 4 MiB each, a fresh file
 * id and token per file as in bench.ts, CONCURRENCY in flight), then `callgrind_control --dump`; the dump's
 * total divided by the MiB sent is the figure. Valgrind runs the servers about 50x slower; nothing here
 * is a throughput figure. Needs `valgrind` on PATH. KOFN_BENCH_FILES (default 2) files of 24 chunks.
 * Under Valgrind, OpenSSL sees no SHA extensions (Valgrind's CPUID hides them), so the relay's SHA-256
 * costs more instructions than on the real CPU: the relay's figure is an upper bound.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { exportJWK } from 'jose';
import { makeSigner } from '../testing/tokens.js';
import { newFileId, shareChunk } from '../testing/chunks.js';

const RELAY_ID = '00000000-0000-4000-8000-0000000000dd';
const CHUNK_BODY = 4 * 1024 * 1024;
const PER_FILE = 24;
/** Fewer than bench.ts's 16: under Valgrind each upload would otherwise take minutes. */
const CONCURRENCY = 4;
const FILES = Number(process.env.KOFN_BENCH_FILES ?? 2);
/** KOFN_BENCH_KEEP_DUMPS=1 keeps the dumps for callgrind_annotate; KOFN_BENCH_ONLY=relay|baseline measures one server. */
const KEEP = process.env.KOFN_BENCH_KEEP_DUMPS === '1';
const ONLY = process.env.KOFN_BENCH_ONLY;
const main = join(import.meta.dirname, '..', 'main.js');
const baselineMain = join(import.meta.dirname, 'baseline-server.js');

function put(agent: Agent, url: string, headers: Record<string, string>, body: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', agent, headers: { ...headers, 'Content-Length': String(body.byteLength) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function pool(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await fn(next++);
    })
  );
}

interface Server {
  child: ChildProcess;
  url: string;
  outDir: string;
}

async function startUnderCallgrind(args: string[], env: Record<string, string>): Promise<Server> {
  const outDir = mkdtempSync(join(tmpdir(), 'kofn-callgrind-'));
  const child = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${join(outDir, 'cg.out')}`, process.execPath, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'ignore']
  });
  const url = await new Promise<string>((res, rej) => {
    child.once('exit', (code) => rej(new Error(`${args[0]} under valgrind exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const msg = JSON.parse(line) as { event: string; url: string };
      if (msg.event === 'listening') res(msg.url);
    });
  });
  child.removeAllListeners('exit');
  return { child, url, outDir };
}

function control(server: Server, what: '--zero' | '--dump'): void {
  execFileSync('callgrind_control', [what, String(server.child.pid)], { stdio: 'ignore', timeout: 120_000 });
}

/** The instruction total of the newest dump (`cg.out.<n>`; `--dump` numbers them from 1). */
function lastDumpTotal(server: Server): number {
  const dumps = readdirSync(server.outDir)
    .map((f) => /^cg\.out\.(\d+)$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  if (!dumps[0]) throw new Error('no callgrind dump');
  const text = readFileSync(join(server.outDir, dumps[0][0]), 'utf8');
  const m = /^totals: (\d+)/m.exec(text) ?? /^summary: (\d+)/m.exec(text);
  if (!m) throw new Error('no total in the callgrind dump');
  return Number(m[1]);
}

function stop(server: Server): Promise<void> {
  return new Promise((res) => {
    if (server.child.exitCode !== null) {
      res();
      return;
    }
    server.child.once('exit', () => res());
    server.child.kill('SIGTERM');
  });
}

const signer = await makeSigner(RELAY_ID);
const jwk = JSON.stringify(await exportJWK(signer.publicKey));
const dataDir = mkdtempSync(join(tmpdir(), 'kofn-relay-ir-'));
const RELAY_ENV = {
  KOFN_RELAY_DATA: dataDir,
  KOFN_RELAY_PORT: '0',
  KOFN_RELAY_ID: RELAY_ID,
  KOFN_TOKEN_PUBLIC_JWK: jwk,
  KOFN_COORDINATOR: '',
  KOFN_LOG_LEVEL: 'warn',
  // Valgrind runs the relay about 50x slower: an upload must not meet the production timeouts (a 408).
  KOFN_RELAY_HEADERS_TIMEOUT_MS: '3600000',
  KOFN_RELAY_REQUEST_TIMEOUT_MS: '3600000',
  KOFN_RELAY_IDLE_TIMEOUT_MS: '3600000',
  KOFN_RELAY_RESPONSE_TIMEOUT_MS: '3600000'
};
const baseDir = mkdtempSync(join(tmpdir(), 'kofn-baseline-ir-'));

/** Uploads one file of PER_FILE chunks to `server`, as bench.ts does for one round. */
async function uploadFile(server: Server, relay: boolean): Promise<void> {
  const fid = newFileId();
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const auth: Record<string, string> = relay ? { Authorization: `Bearer ${await signer.mint({ fid, op: 'put', chunks: [1, PER_FILE], max: CHUNK_BODY + 100 })}` } : {};
  await pool(PER_FILE, CONCURRENCY, async (i) => {
    const url = relay ? `${server.url}/v1/files/${fid}/chunks/${i + 1}` : `${server.url}/${fid}-${i + 1}`;
    const status = await put(agent, url, auth, shareChunk(fid, i + 1, CHUNK_BODY, i & 0xff));
    if (status !== 201) throw new Error(`PUT ${status}`);
  });
  agent.destroy();
}

async function measure(name: string, args: string[], env: Record<string, string>, relay: boolean): Promise<number> {
  const server = await startUnderCallgrind(args, env);
  try {
    await uploadFile(server, relay);
    control(server, '--zero');
    for (let f = 0; f < FILES; f++) await uploadFile(server, relay);
    control(server, '--dump');
    const mib = (FILES * PER_FILE * (CHUNK_BODY + 100)) / 1024 / 1024; // body + share header, roughly
    const perMiB = lastDumpTotal(server) / mib;
    console.log(`  ${name}: ${(perMiB / 1e6).toFixed(2)} M instructions per MiB PUT (${FILES} files x ${PER_FILE} chunks of 4 MiB, ${CONCURRENCY} in flight)`);
    return perMiB;
  } finally {
    await stop(server);
    if (KEEP) console.log(`    (callgrind dumps kept in ${server.outDir})`);
    else rmSync(server.outDir, { recursive: true, force: true });
  }
}

try {
  console.log('kofn relay PUT cost in instructions (valgrind callgrind, user space, all threads; after one warm-up file)');
  const r = ONLY === 'baseline' ? NaN : await measure('relay   ', [main], RELAY_ENV, true);
  const b = ONLY === 'relay' ? NaN : await measure('baseline', [baselineMain, baseDir], {}, false);
  if (!ONLY) console.log(`  relay / baseline instructions per MiB: ${(r / b).toFixed(2)}x`);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(baseDir, { recursive: true, force: true });
}
