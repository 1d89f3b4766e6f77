/**
 * The `kofn` commands: each parses its own arguments (node:util parseArgs, strict), talks to the
 * coordinator and relays through coordinator.ts, protect.ts and retrieve.ts, and prints for people or,
 * with --json, one JSON document for scripts. Errors are thrown as KofnError; main.ts maps their codes to
 * exit codes and one line on stderr.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { attachDashValues } from './args.js';
import { createInterface } from 'node:readline';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KofnError, hasErrorCode, type ErrorCode } from '../errors.js';
import { safeFileName } from '../recover.js';
import { runRecover } from '../recover-command.js';
import { Coordinator, coordinatorOrigin } from './coordinator.js';
import { forgetSession, loadSession, saveSession } from './config.js';
import { defaultThreshold, protect } from './protect.js';
import { protectMany, type SmallFile } from '../protocol/protect-many.js';
import { retrieve } from './retrieve.js';
import { fileSink, streamSink } from './sink.js';
import { fileSource, stdinSource, type Source } from './source.js';
import { UploadStore, uploadKey } from './upload-state.js';
import { CodecPool, workerCount } from './codec-pool.js';
import { human, progressFor } from './progress.js';
import type { FileList, FileView, FolderListing, FolderView, LinkView, StorageList, Usage } from '../protocol/api-types.js';
import { HELP } from './help.js';
import { parseLayoutSpec } from './layout-arg.js';
import { checkLayoutRequest } from '../layout.js';
import type { FileMode } from '../share-sizes.js';
import { base64url, linkKey, newLinkSecret } from '../link-proof.js';

export interface Io {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

type Options = NonNullable<ParseArgsConfig['options']>;
const common: Options = { json: { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' } };

function parse(command: string, args: string[], options: Options) {
  try {
    const all = { ...common, ...options };
    return parseArgs({ args: attachDashValues(args, all), options: all, allowPositionals: true, strict: true });
  } catch (err) {
    throw new KofnError('CLI_USAGE', `${(err as Error).message} (see \`kofn ${command} --help\`)`);
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function out(io: Io, json: boolean, value: unknown, text: string): void {
  io.stdout.write(json ? `${JSON.stringify(value)}\n` : text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

/**
 * The coordinator to talk to: $KOFN_URL with $KOFN_TOKEN when both are set (cron and CI need no session
 * file), else the session `kofn login` saved.
 */
async function session(io: Io): Promise<Coordinator> {
  if (io.env.KOFN_TOKEN && io.env.KOFN_URL) return new Coordinator(io.env.KOFN_URL, { token: io.env.KOFN_TOKEN.trim() }, io.signal);
  const s = await loadSession(io.env);
  return new Coordinator(s.url, s.token ? { token: s.token } : { cookie: s.cookie, csrfToken: s.csrfToken }, io.signal);
}

/** Own files and files shared with me; a name matches own files first (names are unique per owner). */
async function listFiles(api: Coordinator): Promise<{ own: FileView[]; shared: FileView[] }> {
  const [own, shared] = await Promise.all([api.call<FileList>('GET', '/api/files'), api.call<FileList>('GET', '/api/shared/with-me')]);
  return { own: own.files, shared: shared.files };
}

/** For retrieve (`ownOnly` false): available files only; for rm and share: own files in any state. */
async function resolveFile(api: Coordinator, nameOrId: string, ownOnly = false): Promise<FileView> {
  const { own, shared } = await listFiles(api);
  const pools = ownOnly ? [own] : [own, shared].map((pool) => pool.filter((f) => f.status === 'available'));
  for (const pool of pools) {
    const hit = pool.find((f) => f.id === nameOrId) ?? pool.find((f) => f.name === nameOrId && f.status === 'available') ?? pool.find((f) => f.name === nameOrId);
    if (hit) return hit;
  }
  throw new KofnError('NOT_FOUND', `No file named ${JSON.stringify(nameOrId)}${ownOnly ? ' of yours' : ''} (see \`kofn ls\`).`);
}

/** The first line of standard input (`--password-stdin`, or a pipe). */
async function firstLine(io: Io): Promise<string> {
  const rl = createInterface({ input: io.stdin });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  return '';
}

/** A line typed on the terminal without echo. */
async function readSecret(io: Io, prompt: string): Promise<string> {
  io.stderr.write(prompt);
  io.stdin.setRawMode(true);
  io.stdin.resume();
  let value = '';
  try {
    return await new Promise<string>((res, rej) => {
      const onData = (buf: Buffer) => {
        for (const ch of buf.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            finish(res, value);
            return;
          }
          if (ch === '\u0003') {
            finish(rej, new KofnError('CANCELLED', 'Cancelled.'));
            return;
          }
          if (ch === '\u007f') value = value.slice(0, -1);
          else value += ch;
        }
      };
      const finish = <T>(fn: (v: T) => void, v: T) => {
        io.stdin.off('data', onData);
        fn(v);
      };
      io.stdin.on('data', onData);
    });
  } finally {
    io.stdin.setRawMode(false);
    io.stdin.pause();
    io.stderr.write('\n');
  }
}

async function readLine(io: Io, prompt: string): Promise<string> {
  const rl = createInterface({ input: io.stdin, output: io.stderr });
  try {
    return await new Promise<string>((res) => rl.question(prompt, res));
  } finally {
    rl.close();
  }
}

export async function login(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse('login', args, { email: { type: 'string' }, 'password-stdin': { type: 'boolean' }, 'token-stdin': { type: 'boolean' } });
  const url = positionals[0];
  if (!url || positionals.length > 1) throw new KofnError('CLI_USAGE', 'usage: kofn login <url> [--email E] [--password-stdin | --token-stdin]');
  const origin = coordinatorOrigin(url);
  if (values['token-stdin']) {
    if (values['password-stdin'] || values.email) throw new KofnError('CLI_USAGE', '--token-stdin signs in with an API token alone: no --email or --password-stdin.');
    // The token is checked before it is kept: a typo is reported now, not at the first real command.
    const token = (io.env.KOFN_TOKEN ?? (io.stdin.isTTY ? await readSecret(io, 'API token: ') : await firstLine(io))).trim();
    const who = await new Coordinator(origin, { token }, io.signal).call<{ user: { email: string } }>('GET', '/api/session');
    const path = await saveSession({ url: origin, email: who.user.email, token }, io.env);
    out(io, !!values.json, { url: origin, email: who.user.email, saved: path }, `Signed in to ${origin} as ${who.user.email} with an API token (saved in ${path}, mode 0600).`);
    return 0;
  }
  const email = str(values.email) ?? (await readLine(io, 'E-mail: '));
  const password = io.env.KOFN_PASSWORD ?? (values['password-stdin'] || !io.stdin.isTTY ? await firstLine(io) : await readSecret(io, 'Password: '));
  const api = new Coordinator(origin, {}, io.signal);
  const { data, headers } = await api.raw('POST', '/api/login', { email, password });
  const cookie = headers
    .getSetCookie()
    .map((c) => /^kofn_session=([^;]*)/.exec(c)?.[1])
    .find((v) => v);
  const csrfToken = (data as { csrfToken?: unknown }).csrfToken;
  if (!cookie || typeof csrfToken !== 'string') throw new KofnError('UNAVAILABLE', `${origin} did not start a session (is it a kofn server?).`);
  const path = await saveSession({ url: origin, email, cookie, csrfToken }, io.env);
  out(io, !!values.json, { url: origin, email, saved: path }, `Signed in to ${origin} as ${email} (session saved in ${path}, mode 0600).`);
  return 0;
}

export async function logout(args: string[], io: Io): Promise<number> {
  const { values } = parse('logout', args, {});
  const saved = await loadSession(io.env).catch(() => undefined);
  // An API token is not ended by signing out here (it is revoked on the Account page); a session is.
  const api = saved && !saved.token ? await session(io).catch(() => undefined) : undefined;
  await api?.call('POST', '/api/logout').catch(() => undefined);
  await forgetSession(io.env);
  out(io, !!values.json, { signedOut: true }, 'Signed out.');
  return 0;
}

/** Pages of one folder at most `kofn ls` reads (500 items each): far past any folder a terminal shows. */
const MAX_LS_PAGES = 400;

/** Every subfolder and file of a folder (null: the root), page by page (`GET /api/folders`, issue #18). */
async function listFolder(api: Coordinator, folderId: string | null): Promise<{ path: FolderListing['path']; folders: FolderView[]; files: FileView[] }> {
  const folders: FolderView[] = [];
  const files: FileView[] = [];
  let path: FolderListing['path'] = [];
  let cursor: string | null = null;
  for (let page = 0; page < MAX_LS_PAGES; page++) {
    const q = new URLSearchParams({ limit: '500', ...(folderId ? { parent: folderId } : {}), ...(cursor ? { cursor } : {}) });
    const got: FolderListing = await api.call<FolderListing>('GET', `/api/folders?${q}`);
    path = got.path;
    folders.push(...got.folders);
    files.push(...got.files);
    cursor = got.nextCursor;
    if (!cursor) break;
  }
  return { path, folders, files };
}

/** A folder and every folder below it, each with its local path under `base` and its available files. */
async function folderTree(api: Coordinator, folderId: string, base: string): Promise<Array<{ dir: string; files: FileView[] }>> {
  const out: Array<{ dir: string; files: FileView[] }> = [];
  const walk = async (id: string, dir: string) => {
    const listing = await listFolder(api, id);
    out.push({ dir, files: listing.files.filter((x) => x.status === 'available') });
    // Names are made safe for this file system one level at a time (no "..", no separators).
    for (const sub of listing.folders) await walk(sub.id, join(dir, safeFileName(sub.name, sub.id)));
  };
  await walk(folderId, base);
  return out;
}

/** The folder a path names ("Photos/2025"), walking from the root; undefined when there is none. */
async function findFolder(api: Coordinator, path: string): Promise<FolderView | undefined> {
  let at: FolderView | undefined;
  for (const name of path.split('/').filter((s) => s !== '')) {
    let cursor: string | null = null;
    let found: FolderView | undefined;
    for (let page = 0; page < MAX_LS_PAGES && !found; page++) {
      const q = new URLSearchParams({ limit: '500', ...(at ? { parent: at.id } : {}), ...(cursor ? { cursor } : {}) });
      const got: FolderListing = await api.call<FolderListing>('GET', `/api/folders?${q}`);
      found = got.folders.find((f) => f.name === name);
      // Folders come first: a page with files (or the last page) has shown every folder.
      if (got.files.length > 0 || !got.nextCursor) break;
      cursor = got.nextCursor;
    }
    if (!found) return undefined;
    at = found;
  }
  return at;
}

const fileRow = (f: FileView) => `${f.id}  ${human(f.size).padStart(10)}  ${`${f.k}/${f.n}`.padEnd(5)} ${f.status.padEnd(9)} ${f.name}${f.owner ? `  (shared by ${f.owner.email})` : ''}`;

/**
 * `kofn ls [path]`: the root (with files shared with you), or the folder `path` names, its subfolders
 * ending in "/"; a `path` that names no folder filters every file of yours by name, as before folders.
 */
export async function ls(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse('ls', args, {});
  const api = await session(io);
  const want = positionals[0];
  const folder = want === undefined || want === '/' ? undefined : await findFolder(api, want);
  if (want !== undefined && want !== '/' && !folder) {
    const { own, shared } = await listFiles(api);
    const pick = (fs: FileView[]) => fs.filter((f) => f.name.includes(want) || f.id === want);
    const mine = pick(own);
    const theirs = pick(shared);
    out(io, !!values.json, { files: mine, sharedWithMe: theirs }, [...mine, ...theirs].map(fileRow).join('\n'));
    return 0;
  }
  const listing = await listFolder(api, folder?.id ?? null);
  const shared = folder ? [] : (await api.call<FileList>('GET', '/api/shared/with-me')).files;
  const rows = [...listing.folders.map((d) => `${d.id}  ${'folder'.padStart(10)}  ${''.padEnd(5)} ${''.padEnd(9)} ${d.name}/`), ...[...listing.files, ...shared].map(fileRow)];
  out(io, !!values.json, { path: listing.path, folders: listing.folders, files: listing.files, sharedWithMe: shared }, rows.join('\n'));
  return 0;
}

/** Server names (or ids) to relay ids; an unknown one is an error naming the servers there are. */
async function serverIds(api: Coordinator, list: string): Promise<string[]> {
  const { relays } = await api.call<StorageList>('GET', '/api/storage');
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((want) => {
      const r = relays.find((x) => x.name === want || x.id === want);
      if (!r) throw new KofnError('UNKNOWN_SERVER', `No storage server named ${JSON.stringify(want)}; there are: ${relays.map((x) => x.name).join(', ')}.`);
      return r.id;
    });
}

function parseSize(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d{1,16}$/.test(v) || !Number.isSafeInteger(Number(v))) throw new KofnError('CLI_USAGE', `--size expects a number of bytes, got ${JSON.stringify(v)}`);
  return Number(v);
}

export async function protectCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse('protect', args, {
    k: { type: 'string', short: 'k' },
    servers: { type: 'string' },
    name: { type: 'string' },
    size: { type: 'string' },
    type: { type: 'string' },
    to: { type: 'string' },
    compact: { type: 'boolean' },
    layout: { type: 'string' }
  });
  if (positionals.length === 0) throw new KofnError('CLI_USAGE', 'usage: kofn protect <file>... [-k K] [--servers a,b,c] [--to FOLDER/PATH] (or - --name NAME for stdin)');
  const layoutText = str(values.layout);
  const spec = layoutText === undefined ? undefined : parseLayoutSpec(layoutText);
  if (spec && (values.k !== undefined || values.servers !== undefined)) throw new KofnError('CLI_USAGE', '--layout names the thresholds and servers itself; leave out -k and --servers.');
  // As the coordinator and the web app: a multi-level file is Shamir at both levels (docs/multilevel.md).
  if (spec && values.compact) throw new KofnError('LAYOUT_NOT_SUPPORTED', 'Compact mode is for plain k of n files; a multi-level layout is Shamir-split at both levels.');
  const mode: FileMode = values.compact ? 'compact' : 'shamir';
  if (positionals.filter((p) => p === '-').length > 1) throw new KofnError('CLI_USAGE', 'Standard input (-) can be given once.');
  if (positionals.length > 1 && values.name) throw new KofnError('CLI_USAGE', '--name names one file; give one file with it.');
  if (positionals.includes('-') && !values.name) throw new KofnError('CLI_USAGE', 'Protecting standard input needs --name NAME.');
  let k: number | undefined;
  if (values.k !== undefined) {
    k = Number(values.k);
    if (!Number.isInteger(k) || k < 2 || k > 255) throw new KofnError('INVALID_THRESHOLD', `-k expects an integer 2..255, got ${JSON.stringify(values.k)}`);
  }
  const size = parseSize(str(values.size));
  // Every local file is checked before anything is reserved: a typo in the third name stops all three.
  // A folder stands for the regular files directly in it (names on the coordinator have no '/').
  const sources: Source[] = [];
  for (const p of positionals) {
    if (p === '-') continue;
    const st = await stat(p).catch(() => undefined);
    if (st?.isDirectory()) {
      const inside = (await readdir(p, { withFileTypes: true })).filter((e) => e.isFile()).sort((a, b) => a.name.localeCompare(b.name));
      if (inside.length === 0) throw new KofnError('FILE_UNREADABLE', `${p} holds no regular files to protect (sub-folders are not protected yet).`);
      for (const e of inside) sources.push(await fileSource(join(p, e.name)));
    } else sources.push(await fileSource(p, str(values.name)));
  }
  const signedIn = await session(io);
  // --to: into that folder, made (with every missing folder above it) if need be (issue #18).
  const to = str(values.to)?.split('/').filter(Boolean).join('/');
  const api = to ? signedIn.into((await signedIn.call<FolderView>('POST', '/api/folders', { path: to })).id) : signedIn;
  const relays = values.servers ? await serverIds(api, String(values.servers)) : undefined;
  // Names to ids, then the coordinator's own rules (same codes), before anything is reserved.
  const layout = spec
    ? checkLayoutRequest({
        kind: 'tree',
        k: spec.k,
        groups: await Promise.all(
          spec.groups.map(async (g) => ({ kind: 'local', k: g.k, relays: g.servers.length ? await serverIds(api, g.servers.join(',')) : [], ...(g.label ? { label: g.label } : {}) }))
        )
      })
    : undefined;
  if (k !== undefined && relays && k > relays.length) throw new KofnError('THRESHOLD_TOO_HIGH', `-k ${k} is more than the ${relays.length} servers chosen.`);
  if (positionals.includes('-')) sources.splice(positionals.indexOf('-'), 0, await stdinSource(io.stdin, str(values.name) ?? '', size));
  const bar = progressFor(!values.json && !values.quiet && io.stderr.isTTY);
  const pools = lazyPool(io.env);
  const codecPool = pools.get;
  const results: unknown[] = [];
  const replaced: string[] = [];
  let failures = 0;
  let firstCode: ErrorCode | undefined;
  try {
    // Several small files go in batches (issue #14: one reservation and one commit request per 1,000
    // files, not per file); large ones and standard input stream one by one with relay failover.
    // The batch routes reserve plain Shamir k of n files only: compact and multi-level files go one by one.
    const small = sources.length > 1 && mode === 'shamir' && !layout ? sources.filter((x) => x.rereadable && x.size <= BATCH_FILE_MAX) : [];
    if (small.length > 0) {
      const kk = k ?? defaultThreshold(relays?.length ?? (await api.call<StorageList>('GET', '/api/storage')).relays.filter((r) => r.status === 'online').length);
      const read: SmallFile[] = [];
      for (const x of small) read.push({ name: x.name, data: await readAll(x), ...(typeof values.type === 'string' ? { type: values.type } : {}) });
      const done = await protectMany(api, read, {
        k: kk,
        ...(relays ? { relays } : {}),
        signal: io.signal,
        onFile: (r) => {
          if (values.json || values.quiet) return;
          io.stderr.write(r.ok ? `protected ${r.name} (${human(r.size)}, ${r.k} of ${r.n} servers) as ${r.fileId}\n` : `not protected: ${r.name}: ${r.message}\n`);
        }
      });
      for (const r of done) {
        if (r.ok) results.push({ name: r.name, fileId: r.fileId, k: r.k, n: r.n, size: r.size, replacedBy: [] });
        else {
          failures += 1;
          firstCode ??= r.code;
          results.push({ name: r.name, error: { code: r.code, message: r.message } });
        }
      }
    }
    for (const source of sources.filter((x) => !small.includes(x))) {
      bar.start(`protect ${source.name}`, source.size);
      const type = typeof values.type === 'string' ? values.type : undefined;
      const key = source.path
        ? await uploadKey(source.path, {
            origin: api.origin,
            name: source.name,
            ...(k ? { k } : {}),
            ...(relays ? { relays } : {}),
            ...(type ? { type } : {}),
            mode,
            ...(layoutText ? { layout: layoutText } : {})
          })
        : undefined;
      const pool = source.size > POOL_MIN_BYTES ? codecPool() : undefined;
      const r = await protect(api, {
        source,
        ...(pool ? { pool } : {}),
        ...(key ? { store: new UploadStore(key, io.env) } : {}),
        ...(k ? { k } : {}),
        ...(relays ? { relays } : {}),
        ...(mode === 'compact' ? { mode } : {}),
        ...(layout ? { layout } : {}),
        ...(typeof values.type === 'string' ? { type: values.type } : {}),
        signal: io.signal,
        onProgress: (d) => bar.update(d),
        onReplaced: (id, spare) => {
          replaced.push(spare);
          if (!values.json && !values.quiet) io.stderr.write(`a storage server failed (${id}); ${spare} takes its place and the upload starts again\n`);
        }
      }).finally(() => bar.stop());
      results.push({ name: source.name, ...r, replacedBy: replaced.splice(0) });
      if (!values.json && !values.quiet) {
        const resumed = r.resumedAfter === undefined ? '' : `, continuing an interrupted upload after chunk ${r.resumedAfter}`;
        const how = r.groups
          ? `${r.k} of ${r.groups.length} groups (${r.groups.map((g) => `${g.k} of ${g.n}`).join(', ')}), ${r.n} servers`
          : `${r.k} of ${r.n} servers${r.mode === 'compact' ? ', compact' : ''}`;
        io.stderr.write(`protected ${source.name} (${human(r.size)}, ${how}${resumed}) as ${r.fileId}\n`);
      }
    }
  } finally {
    for (const s of sources) await s.dispose();
    await pools.close();
  }
  if (values.json) out(io, true, { files: results }, '');
  // The exit status follows the first failed file's code (exit-codes.ts); every file's outcome was printed.
  if (firstCode) throw new KofnError(firstCode, `${failures} of ${sources.length} files were not protected (listed above).`);
  return 0;
}

/** Files past this size are split and rebuilt on worker threads; smaller ones are done before workers would start. */
const POOL_MIN_BYTES = 4 * 1024 * 1024;

/** One codec pool for a command, made when the first large file needs it ($KOFN_WORKERS=0: none). */
function lazyPool(env: NodeJS.ProcessEnv): { get: () => CodecPool | undefined; close: () => Promise<void> } {
  let pool: CodecPool | undefined;
  return {
    get: () => {
      const n = workerCount(env);
      if (n > 0) pool ??= new CodecPool(n);
      return pool;
    },
    close: async () => pool?.close()
  };
}

/** Files up to this size go through the batch path when several are protected at once (read whole). */
const BATCH_FILE_MAX = 1024 * 1024;

async function readAll(source: Source): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of source.open(0)) parts.push(part);
  return Buffer.concat(parts);
}

export async function retrieveCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse('retrieve', args, { output: { type: 'string', short: 'o' }, force: { type: 'boolean', short: 'f' } });
  if (positionals.length === 0) throw new KofnError('CLI_USAGE', 'usage: kofn retrieve <name|id>... [-o path|-]');
  const output = str(values.output);
  const toStdout = output === '-';
  if (toStdout && positionals.length > 1) throw new KofnError('CLI_USAGE', '-o - writes one file to standard output; give one file.');
  let intoDir = output === undefined ? '.' : undefined;
  if (output !== undefined && !toStdout) {
    const st = await stat(output).catch(() => undefined);
    if (st?.isDirectory()) intoDir = output;
    else if (positionals.length > 1) throw new KofnError('CLI_USAGE', `-o ${output}: with several files, -o names an existing folder.`);
  }
  const api = await session(io);
  // Each name is a file, else a folder (issue #18): a folder comes back as a local folder of the same name
  // (under -o's folder, or the current one; or at -o itself when -o names a new path for one folder), with
  // its sub-folders, empty ones included, and every available file in them.
  const targets: Array<{ f: FileView; dir?: string }> = [];
  for (const want of positionals) {
    const f = await resolveFile(api, want).catch(async (err: unknown) => {
      const folder = hasErrorCode(err) && err.code === 'NOT_FOUND' ? await findFolder(api, want) : undefined;
      if (!folder) throw err;
      return folder;
    });
    if ('size' in f) {
      targets.push({ f });
      continue;
    }
    if (toStdout) throw new KofnError('CLI_USAGE', `${want} is a folder: -o - writes one file; give -o a folder (or none).`);
    // intoDir is unset only when -o names a new path (checked above), which then is the folder's place.
    const base = intoDir !== undefined ? join(intoDir, safeFileName(f.name, f.id)) : (output ?? '.');
    for (const item of await folderTree(api, f.id, base)) {
      await mkdir(item.dir, { recursive: true });
      for (const file of item.files) targets.push({ f: file, dir: item.dir });
    }
  }
  const bar = progressFor(!values.json && !values.quiet && io.stderr.isTTY);
  const results: unknown[] = [];
  const pools = lazyPool(io.env);
  try {
    for (const { f, dir } of targets) {
      let path = '-';
      bar.start(`retrieve ${f.name}`, f.size);
      const pool = f.size > POOL_MIN_BYTES ? pools.get() : undefined;
      const r = await retrieve(api, {
        fileId: f.id,
        ...(pool ? { pool } : {}),
        signal: io.signal,
        onProgress: (d) => bar.update(d),
        sinkFor: async (file) => {
          if (toStdout) return streamSink(io.stdout);
          path = dir !== undefined ? join(dir, safeFileName(f.name, f.id)) : intoDir !== undefined || output === undefined ? join(intoDir ?? '.', safeFileName(file.name, f.id)) : output;
          return fileSink(path, !!values.force, { fileId: f.id, chunkSize: file.chunkSize });
        }
      }).finally(() => bar.stop());
      results.push({ fileId: f.id, ...r, path });
      if (!values.json && !values.quiet) {
        const resumed = r.resumedAt === undefined ? '' : `, continuing an interrupted retrieval after ${human(r.resumedAt)}`;
        io.stderr.write(`retrieved ${r.name} (${human(r.size)}${resumed})${toStdout ? '' : ` to ${path}`}\n`);
        if (r.badRelays.length) io.stderr.write(`  bad data from: ${r.badRelays.join(', ')} (reported)\n`);
        if (r.unreachable.length) io.stderr.write(`  not reachable: ${r.unreachable.join(', ')}\n`);
        if (r.fromEpoch !== undefined) io.stderr.write(`  renewed meanwhile: read on at epoch ${r.epoch} once epoch ${r.fromEpoch} was no longer kept\n`);
      }
    }
  } finally {
    await pools.close();
  }
  // With -o -, stdout carries the file: the JSON summary goes to stderr.
  if (values.json) (toStdout ? io.stderr : io.stdout).write(`${JSON.stringify({ files: results })}\n`);
  return 0;
}

export async function rm(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse('rm', args, {});
  if (positionals.length === 0) throw new KofnError('CLI_USAGE', 'usage: kofn rm <name|id>...');
  const api = await session(io);
  const removed: Array<{ fileId: string; name: string }> = [];
  for (const want of positionals) {
    const f = await resolveFile(api, want, true);
    await api.call('DELETE', `/api/files/${f.id}`);
    removed.push({ fileId: f.id, name: f.name });
  }
  out(io, !!values.json, { removed }, removed.map((r) => `removed ${r.name} (${r.fileId}) to the trash; restore it there, or its shares are deleted after the trash period`).join('\n'));
  return 0;
}

export async function share(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse('share', args, { revoke: { type: 'boolean' } });
  if (positionals.length < 2) throw new KofnError('CLI_USAGE', 'usage: kofn share <name|id> <email>... [--revoke]');
  const [want, ...emails] = positionals as [string, ...string[]];
  const api = await session(io);
  const f = await resolveFile(api, want, true);
  const action = values.revoke ? 'revoke_read' : 'add_read';
  const r = await api.call<unknown>('POST', '/api/grants', { action, emails, fileIds: [f.id] });
  out(io, !!values.json, r, `${values.revoke ? 'revoked read access to' : 'shared'} ${f.name} ${values.revoke ? 'from' : 'with'} ${emails.join(', ')}`);
  return 0;
}

export async function status(args: string[], io: Io): Promise<number> {
  const { values } = parse('status', args, {});
  const api = await session(io);
  const [config, storage, usage, who] = await Promise.all([
    api.call<{ version: string; tier: string; licensed: boolean; maxFileSize: number; storageLimit: number }>('GET', '/api/configuration'),
    api.call<StorageList>('GET', '/api/storage'),
    api.call<Usage>('GET', '/api/usage'),
    api.call<{ user: { email: string } }>('GET', '/api/session')
  ]);
  // From the server, not the saved file: with $KOFN_TOKEN there is no saved file.
  const s = { url: api.origin, email: who.user.email };
  // Pings go from this machine to each relay, as the browser's do: they say what retrieval here will see.
  const relays = await Promise.all(
    storage.relays.map(async (r) => {
      const t0 = performance.now();
      const ok = await fetch(`${r.host}/v1/ping`, { signal: AbortSignal.any([io.signal, AbortSignal.timeout(3000)]) }).then(
        async (res) => (await res.body?.cancel(), res.ok),
        () => false
      );
      return { ...r, pingMs: ok ? Math.round(performance.now() - t0) : null };
    })
  );
  const text = [
    `server   ${s.url} (kofn ${config.version}), signed in as ${s.email}`,
    `licence  ${config.tier}${config.licensed ? '' : ' (no licence: Essential limits)'}; largest file ${human(config.maxFileSize)}`,
    `usage    ${human(usage.protectedBytes)} of ${human(usage.limitBytes)} (${usage.percent}%)`,
    'storage servers:',
    ...relays.map(
      (r) =>
        `  ${r.name.padEnd(16)} ${r.status.padEnd(8)} ${r.pingMs === null ? 'no ping' : `${r.pingMs} ms`.padStart(7)}  used ${human(r.usedBytes)}, free ${r.freeBytes === null ? 'not reported' : human(r.freeBytes)}  ${r.host}${r.location ? ` (${r.location})` : ''}`
    )
  ].join('\n');
  out(io, !!values.json, { server: s.url, email: s.email, configuration: config, usage, relays }, text);
  return 0;
}

export async function recover(args: string[]): Promise<number> {
  return runRecover(args, HELP.recover);
}

/** `7d`, `12h`, `90m` or an ISO date: when a share link stops working. */
export function parseExpiry(text: string, now = Date.now()): Date {
  const m = /^(\d{1,4})([mhd])$/.exec(text.trim());
  if (m) return new Date(now + Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd']);
  const t = Date.parse(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || !Number.isFinite(t)) throw new KofnError('CLI_USAGE', `--expires expects 7d, 12h, 90m or a date (2030-01-31), got ${JSON.stringify(text)}`);
  return new Date(t);
}

/**
 * `kofn link`: a share link, as the web app's Share links panel makes it (web/src/lib/links.ts
 * createShareLink): the secret is made here and goes only into the URL's fragment; the coordinator gets the
 * public key derived from it and the password (shared/src/link-proof.ts), never either of them.
 */
export async function link(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse('link', args, {
    expires: { type: 'string' },
    downloads: { type: 'string' },
    password: { type: 'boolean' },
    'password-stdin': { type: 'boolean' },
    list: { type: 'boolean' },
    revoke: { type: 'string' }
  });
  if (values.list && values.revoke !== undefined) throw new KofnError('CLI_USAGE', '--list and --revoke go separately.');
  if (values.list) return listLinksCommand(positionals, !!values.json, io);
  if (values.revoke !== undefined) return revokeLinkCommand(str(values.revoke) ?? '', positionals, !!values.json, io);
  if (positionals.length !== 1) throw new KofnError('CLI_USAGE', 'usage: kofn link <name|id> [--expires 7d] [--downloads N] [--password | --password-stdin]');
  const expiresAt = parseExpiry(str(values.expires) ?? '7d');
  let maxDownloads: number | null = null;
  if (values.downloads !== undefined) {
    maxDownloads = Number(values.downloads);
    if (!/^\d{1,7}$/.test(String(values.downloads)) || maxDownloads < 1) throw new KofnError('CLI_USAGE', `--downloads expects a whole number from 1, got ${JSON.stringify(values.downloads)}`);
  }
  let password = '';
  if (values['password-stdin']) password = await firstLine(io);
  else if (values.password) password = io.env.KOFN_LINK_PASSWORD ?? (io.stdin.isTTY ? await readSecret(io, 'Link password: ') : await firstLine(io));
  if ((values.password || values['password-stdin']) && password === '') throw new KofnError('CLI_USAGE', 'The link password is empty.');
  const api = await session(io);
  const f = await resolveFile(api, positionals[0]!, true);
  const secret = newLinkSecret();
  const key = await linkKey(secret, password || undefined);
  const view = await api.call<LinkView>('POST', '/api/links', { fileId: f.id, publicKey: key.publicKey, passwordProtected: password !== '', expiresAt: expiresAt.toISOString(), maxDownloads });
  // The page's address format (web/src/lib/links.ts linkUrl): `#p.` tells the page to ask for the password.
  const url = `${api.origin}/s/${view.id}#${password ? 'p.' : ''}${base64url(secret)}`;
  secret.fill(0);
  const limit = view.maxDownloads === null ? 'no download limit' : `at most ${view.maxDownloads} download${view.maxDownloads === 1 ? '' : 's'}`;
  if (!values.json && !values.quiet) io.stderr.write(`link to ${f.name}: until ${view.expiresAt}, ${limit}${password ? ', password needed' : ''}\n`);
  out(io, !!values.json, { link: view, url }, url);
  return 0;
}

/** A link's one line: id, state, file, limits (the web app's Share links panel, in text). */
function linkLine(l: LinkView): string {
  const limit = l.maxDownloads === null ? `${l.downloads} downloads` : `${l.downloads}/${l.maxDownloads} downloads`;
  return `${l.id}  ${l.state.padEnd(8)} ${l.fileName}  until ${l.expiresAt}, ${limit}${l.passwordProtected ? ', password' : ''}`;
}

/** `kofn link --list [name|id]`: the user's share links (GET /api/links, `?fileId=` for one file). */
async function listLinksCommand(positionals: string[], json: boolean, io: Io): Promise<number> {
  if (positionals.length > 1) throw new KofnError('CLI_USAGE', 'usage: kofn link --list [name|id]');
  const api = await session(io);
  const fileId = positionals[0] === undefined ? undefined : (await resolveFile(api, positionals[0], true)).id;
  const { links } = await api.call<{ links: LinkView[] }>('GET', `/api/links${fileId ? `?fileId=${encodeURIComponent(fileId)}` : ''}`);
  out(io, json, { links }, links.length === 0 ? 'no share links' : links.map(linkLine).join('\n'));
  return 0;
}

/**
 * `kofn link --revoke ID`: the link stops working at once (DELETE /api/links/:id). Its address is not
 * shown again (the secret was never stored), so links are named by the id `--list` prints.
 */
async function revokeLinkCommand(id: string, positionals: string[], json: boolean, io: Io): Promise<number> {
  if (positionals.length > 0 || id === '') throw new KofnError('CLI_USAGE', 'usage: kofn link --revoke <link id>');
  const api = await session(io);
  const view = await api.call<LinkView>('DELETE', `/api/links/${encodeURIComponent(id)}`);
  out(io, json, { link: view }, `revoked ${linkLine(view)}`);
  return 0;
}

interface FileHealth {
  fileId: string;
  k: number;
  n: number;
  health: null | { state: 'healthy' | 'degraded' | 'at_risk' | 'unrecoverable'; checkedAt: string; shares: Array<{ relayId: string; name: string; state: string; detail: string | null }> };
}

/**
 * `kofn check`: each file's health (api.md "GET/POST /api/files/:id/health", issue #16). Own files are
 * checked now (the coordinator lists every relay's chunks and compares digest roots); files shared with
 * you, or with --cached, show the last scheduled check. Exit 0 when every file is healthy, 1 otherwise.
 */
export async function check(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse('check', args, { cached: { type: 'boolean' } });
  if (positionals.length === 0) throw new KofnError('CLI_USAGE', 'usage: kofn check <name|id>... [--cached]');
  const api = await session(io);
  const { own } = await listFiles(api);
  const results: Array<FileHealth & { name: string }> = [];
  const lines: string[] = [];
  for (const want of positionals) {
    const f = await resolveFile(api, want);
    const mine = own.some((o) => o.id === f.id);
    const h = await api.call<FileHealth>(mine && !values.cached ? 'POST' : 'GET', `/api/files/${f.id}/health`);
    results.push({ name: f.name, ...h });
    if (!h.health) {
      lines.push(`${f.name}: not checked yet (${h.k} of ${h.n})`);
      continue;
    }
    lines.push(`${f.name}: ${h.health.state.replace('_', ' ')} (${h.health.shares.filter((s) => s.state === 'ok').length} of ${h.n} shares ok, ${h.k} needed; checked ${h.health.checkedAt})`);
    for (const s of h.health.shares) lines.push(`  ${s.name.padEnd(16)} ${s.state}${s.detail ? `  ${s.detail}` : ''}`);
  }
  out(io, !!values.json, { files: results }, lines.join('\n'));
  return results.every((r) => r.health?.state === 'healthy') ? 0 : 1;
}
