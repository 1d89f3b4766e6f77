import { mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createProtectStream, type EncodedChunk } from './streams.js';
import { fileIdToHex } from './chunk-format.js';
import { randomBytes } from './random.js';
import { recoverDirectories, safeFileName } from './recover.js';

async function protectTo(dirs: string[], name: string, data: Uint8Array, k: number): Promise<string> {
  const fileId = randomBytes(16);
  const hex = fileIdToHex(fileId);
  const p = await createProtectStream({ k, xs: dirs.map((_, i) => i + 10), fileId, file: { name, size: data.length, type: 'text/plain', chunkSize: 1000 } });
  const writing = (async () => {
    const w = p.writable.getWriter();
    await w.write(data);
    await w.close();
  })();
  const chunks: EncodedChunk[] = [];
  for await (const c of p.readable) chunks.push(c);
  await writing;
  dirs.forEach((dir, j) => {
    // Any layout works: the tool reads headers, not paths.
    const d = join(dir, 'chunks', hex.slice(0, 2), hex);
    mkdirSync(d, { recursive: true });
    for (const c of chunks) writeFileSync(join(d, `${c.index}.kofn`), c.shares[j]!);
    // A torn temporary file and unrelated files must be ignored.
    writeFileSync(join(d, `.tmp-${j}`), chunks[0]!.shares[j]!.subarray(0, 50));
    writeFileSync(join(dir, 'relay-id'), 'not a share');
  });
  return hex;
}

function relayDirs(n: number): string[] {
  const root = mkdtempSync(join(tmpdir(), 'kofn-recover-'));
  return Array.from({ length: n }, (_, i) => {
    const d = join(root, `relay-${i}`);
    mkdirSync(d);
    return d;
  });
}

describe('offline recovery from relay folders alone', () => {
  it('rebuilds every file from any k relay folders', async () => {
    const dirs = relayDirs(5);
    const a = randomBytes(3500);
    const b = new TextEncoder().encode('hello, kofn');
    const empty = new Uint8Array(0);
    await protectTo(dirs, 'a.bin', a, 3);
    await protectTo(dirs, 'notes/../../b.txt', b, 3);
    await protectTo(dirs, 'empty', empty, 3);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const results = await recoverDirectories([dirs[4]!, dirs[1]!, dirs[2]!], out);
    expect(results.map((r) => r.error)).toEqual([undefined, undefined, undefined]);
    expect(readFileSync(join(out, 'a.bin'))).toEqual(Buffer.from(a));
    // A hostile name cannot escape the output folder.
    expect(readFileSync(join(out, 'notes_.._.._b.txt'))).toEqual(Buffer.from(b));
    expect(readFileSync(join(out, 'empty'))).toEqual(Buffer.from(empty));
    expect(readdirSync(out).sort()).toEqual(['a.bin', 'empty', 'notes_.._.._b.txt']);
  });

  it('reports a file it cannot rebuild from k-1 folders and writes nothing for it', async () => {
    const dirs = relayDirs(3);
    await protectTo(dirs, 'secret.txt', randomBytes(100), 3);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const [r] = await recoverDirectories(dirs.slice(0, 2), out);
    expect(r?.error?.code).toBe('NOT_ENOUGH_SHARES');
    expect(readdirSync(out)).toEqual([]);
  });

  it('routes around a corrupt share when more than k folders are given, and names it', async () => {
    const dirs = relayDirs(4);
    const data = randomBytes(2500);
    const hex = await protectTo(dirs, 'c.bin', data, 3);
    const victim = join(dirs[1]!, 'chunks', hex.slice(0, 2), hex, '2.kofn');
    const bytes = readFileSync(victim);
    bytes[bytes.length - 5]! ^= 0xff;
    writeFileSync(victim, bytes);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const [r] = await recoverDirectories(dirs, out);
    expect(r?.error).toBeUndefined();
    expect(r?.badShares).toEqual([victim]);
    expect(readFileSync(join(out, 'c.bin'))).toEqual(Buffer.from(data));
  });

  it('refuses to write a file whose shares fail authentication', async () => {
    const dirs = relayDirs(3);
    const hex = await protectTo(dirs, 'd.bin', randomBytes(2500), 3);
    const victim = join(dirs[0]!, 'chunks', hex.slice(0, 2), hex, '3.kofn');
    const bytes = readFileSync(victim);
    bytes[60]! ^= 1;
    writeFileSync(victim, bytes);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const [r] = await recoverDirectories(dirs, out);
    expect(r?.error?.code).toBe('AUTH_FAILED');
    expect(readdirSync(out)).toEqual([]);
  });

  it('makes safe file names', () => {
    expect(safeFileName('../../etc/passwd', 'x')).toBe('.._.._etc_passwd');
    expect(safeFileName('..', 'fallback')).toBe('fallback');
    expect(safeFileName('a\u0000b\u202e', 'x')).toBe('a_b_');
    expect(safeFileName('.', 'fallback')).toBe('fallback');
    expect(safeFileName('', 'fallback')).toBe('fallback');
    expect(safeFileName('   ', 'fallback')).toBe('fallback');
    expect(safeFileName('  report.pdf  ', 'x')).toBe('report.pdf');
  });

  it('gives a second file of the same name its id as a suffix, in file-id order', async () => {
    const dirs = relayDirs(2);
    const ids = [await protectTo(dirs, 'same.txt', new TextEncoder().encode('one'), 2), await protectTo(dirs, 'same.txt', new TextEncoder().encode('two'), 2)];
    const [first, second] = [...ids].sort();
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const results = await recoverDirectories(dirs, out);
    expect(results.map((r) => r.fileId)).toEqual([first, second]);
    expect(results.map((r) => r.path)).toEqual([join(out, 'same.txt'), join(out, `same.txt.${second!.slice(0, 8)}`)]);
  });

  it('reads only regular files inside the given folders: a symlink to a share elsewhere is not followed', async () => {
    const dirs = relayDirs(3);
    const hex = await protectTo(dirs, 'linked.bin', randomBytes(500), 3);
    // Folder 0 gets links to folder 2's shares; with folders 0 and 1 only, k - 1 real shares remain.
    const from = join(dirs[2]!, 'chunks', hex.slice(0, 2), hex);
    mkdirSync(join(dirs[0]!, 'links'));
    for (const name of readdirSync(from)) symlinkSync(join(from, name), join(dirs[0]!, 'links', name));
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const [r] = await recoverDirectories(dirs.slice(0, 2), out);
    expect(r?.error?.code).toBe('NOT_ENOUGH_SHARES');
    expect(readdirSync(out)).toEqual([]);
  });

  it('skips a file with a share-like size and magic whose header is invalid', async () => {
    const dirs = relayDirs(2);
    const hex = await protectTo(dirs, 'ok.bin', randomBytes(300), 2);
    const real = readFileSync(join(dirs[0]!, 'chunks', hex.slice(0, 2), hex, '1.kofn'));
    const forged = Buffer.from(real);
    forged[7] = 1; // k = 1: not a valid header
    writeFileSync(join(dirs[0]!, 'forged.kofn'), forged);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const results = await recoverDirectories(dirs, out);
    expect(results.map((r) => [r.fileId, r.error, r.badShares])).toEqual([[hex, undefined, []]]);
  });

  it('works as the kofn-recover command', async () => {
    const dirs = relayDirs(2);
    const data = new TextEncoder().encode('from the command line');
    await protectTo(dirs, 'cli.txt', data, 2);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const cli = join(import.meta.dirname, '..', 'dist', 'recover-cli.js');
    const stdout = execFileSync(process.execPath, [cli, '--out', out, ...dirs], { encoding: 'utf8' });
    expect(stdout).toContain('1 recovered, 0 failed');
    expect(readFileSync(join(out, 'cli.txt'), 'utf8')).toBe('from the command line');
  });
});
