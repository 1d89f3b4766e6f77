import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createProtectStream, type EncodedChunk } from './streams.js';
import { fileIdToHex } from './ids.js';
import { randomBytes } from './random.js';
import { MANIFEST_NAME, fitFileName, recoverDirectories, safeFileName, type RecoveredFile } from './recover.js';
import { ShareEncoder, newMacKey } from './codec.js';
import { encodeMetadata } from './metadata.js';
import { FLAG_FINAL, FLAG_METADATA } from './chunk-format.js';

async function protectTo(dirs: string[], name: string, data: Uint8Array, k: number, layout: 'any' | 'disk' = 'any', mode: 'shamir' | 'compact' = 'shamir'): Promise<string> {
  const fileId = randomBytes(16);
  const hex = fileIdToHex(fileId);
  const p = await createProtectStream({ k, xs: dirs.map((_, i) => i + 10), fileId, mode, file: { name, size: data.length, type: 'text/plain', chunkSize: 1000 } });
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
    for (const c of chunks) {
      // 'disk' is the disk relay's own layout: <index>.<sha256 of the stored bytes>.
      const file = layout === 'disk' ? `${c.index}.${createHash('sha256').update(c.shares[j]!).digest('hex')}` : `${c.index}.kofn`;
      writeFileSync(join(d, file), c.shares[j]!);
    }
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
    const { files: results } = await recoverDirectories([dirs[4]!, dirs[1]!, dirs[2]!], out);
    expect(results.map((r) => r.error)).toEqual([undefined, undefined, undefined]);
    expect(readFileSync(join(out, 'a.bin'))).toEqual(Buffer.from(a));
    // A hostile name cannot escape the output folder.
    expect(readFileSync(join(out, 'notes_.._.._b.txt'))).toEqual(Buffer.from(b));
    expect(readFileSync(join(out, 'empty'))).toEqual(Buffer.from(empty));
    expect(readdirSync(out).sort()).toEqual(['a.bin', 'empty', 'kofn-recover-manifest.json', 'notes_.._.._b.txt']);
  });

  it('reports a file it cannot rebuild from k-1 folders and writes nothing for it', async () => {
    const dirs = relayDirs(3);
    await protectTo(dirs, 'secret.txt', randomBytes(100), 3);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const {
      files: [r]
    } = await recoverDirectories(dirs.slice(0, 2), out);
    expect(r?.error?.code).toBe('NOT_ENOUGH_SHARES');
    expect(readdirSync(out)).toEqual(['kofn-recover-manifest.json']);
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
    const {
      files: [r]
    } = await recoverDirectories(dirs, out);
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
    const {
      files: [r]
    } = await recoverDirectories(dirs, out);
    expect(r?.error?.code).toBe('AUTH_FAILED');
    expect(readdirSync(out)).toEqual(['kofn-recover-manifest.json']);
  });

  describe('compact files (docs/compact-mode.md)', () => {
    it('rebuild from any k folders, parity-only ones too, beside Shamir files in the same folders', async () => {
      const dirs = relayDirs(5);
      const a = randomBytes(3500);
      const b = randomBytes(999);
      await protectTo(dirs, 'compact.bin', a, 3, 'disk', 'compact');
      await protectTo(dirs, 'shamir.bin', b, 3, 'disk', 'shamir');
      await protectTo(dirs, 'empty-compact', new Uint8Array(0), 3, 'disk', 'compact');
      // Folders 3 and 4 hold parity fragments only; folder 0 holds the first ciphertext piece.
      for (const pick of [
        [0, 1, 2],
        [2, 3, 4],
        [4, 0, 3]
      ]) {
        const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
        const { files } = await recoverDirectories(
          pick.map((i) => dirs[i]!),
          out
        );
        expect(files.map((r) => [r.error, r.badShares])).toEqual(files.map(() => [undefined, []]));
        expect(readFileSync(join(out, 'compact.bin'))).toEqual(Buffer.from(a));
        expect(readFileSync(join(out, 'shamir.bin'))).toEqual(Buffer.from(b));
        expect(readFileSync(join(out, 'empty-compact'))).toEqual(Buffer.alloc(0));
      }
    });

    it('name the folder of an altered fragment and of an altered key share, and still rebuild with k good ones', async () => {
      const dirs = relayDirs(4);
      const data = randomBytes(2500);
      // 'any' layout: no digest in the name, so only the decoder can find the change.
      const hex = await protectTo(dirs, 'c.bin', data, 3, 'any', 'compact');
      const fragment = join(dirs[3]!, 'chunks', hex.slice(0, 2), hex, '2.kofn');
      const keyShare = join(dirs[1]!, 'chunks', hex.slice(0, 2), hex, '0.kofn');
      for (const victim of [fragment, keyShare]) {
        const bytes = readFileSync(victim);
        bytes[bytes.length - 3]! ^= 0x10;
        writeFileSync(victim, bytes);
      }
      const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
      const {
        files: [r]
      } = await recoverDirectories(dirs, out);
      expect(r?.error).toBeUndefined();
      expect([...r!.badShares].sort()).toEqual([fragment, keyShare].sort());
      expect(readFileSync(join(out, 'c.bin'))).toEqual(Buffer.from(data));
      // With exactly k folders, one of them altered: nothing is written.
      const out2 = mkdtempSync(join(tmpdir(), 'kofn-out-'));
      const {
        files: [r2]
      } = await recoverDirectories([dirs[0]!, dirs[2]!, dirs[3]!], out2);
      expect(r2?.error?.code).toBe('AUTH_FAILED');
      expect(readdirSync(out2)).toEqual(['kofn-recover-manifest.json']);
    });

    it('k-1 folders do not rebuild a compact file', async () => {
      const dirs = relayDirs(5);
      await protectTo(dirs, 'k-1.bin', randomBytes(4000), 3, 'disk', 'compact');
      const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
      const {
        files: [r]
      } = await recoverDirectories([dirs[3]!, dirs[4]!], out);
      expect(r?.error?.code).toBe('NOT_ENOUGH_SHARES');
      expect(readdirSync(out)).toEqual(['kofn-recover-manifest.json']);
    });

    it('the kofn-recover command rebuilds a compact file', async () => {
      const dirs = relayDirs(3);
      await protectTo(dirs, 'cli-compact.txt', new TextEncoder().encode('compact from the command line'), 2, 'disk', 'compact');
      const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
      const cli = join(import.meta.dirname, '..', 'dist', 'recover-cli.js');
      const stdout = execFileSync(process.execPath, [cli, '--out', out, dirs[1]!, dirs[2]!], { encoding: 'utf8' });
      expect(stdout).toContain('1 recovered, 0 failed');
      expect(readFileSync(join(out, 'cli-compact.txt'), 'utf8')).toBe('compact from the command line');
    });
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
    const { files: results } = await recoverDirectories(dirs, out);
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
    const {
      files: [r]
    } = await recoverDirectories(dirs.slice(0, 2), out);
    expect(r?.error?.code).toBe('NOT_ENOUGH_SHARES');
    expect(readdirSync(out)).toEqual(['kofn-recover-manifest.json']);
  });

  it('skips a file with a share-like size and magic whose header is invalid', async () => {
    const dirs = relayDirs(2);
    const hex = await protectTo(dirs, 'ok.bin', randomBytes(300), 2);
    const real = readFileSync(join(dirs[0]!, 'chunks', hex.slice(0, 2), hex, '1.kofn'));
    const forged = Buffer.from(real);
    forged[7] = 1; // k = 1: not a valid header
    writeFileSync(join(dirs[0]!, 'forged.kofn'), forged);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const { files: results, unattributed } = await recoverDirectories(dirs, out);
    expect(results.map((r) => [r.fileId, r.error, r.badShares])).toEqual([[hex, undefined, []]]);
    // Not used, but named: it looks like a share and is not one.
    expect(unattributed.map((u) => [u.path, u.relayDir])).toEqual([[join(dirs[0]!, 'forged.kofn'), dirs[0]]]);
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

  it('works as `kofn recover` through the committed launcher (the same code, issue #20)', async () => {
    const dirs = relayDirs(2);
    await protectTo(dirs, 'kofn.txt', new TextEncoder().encode('through kofn'), 2);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const bin = join(import.meta.dirname, '..', 'bin', 'kofn.mjs');
    const stdout = execFileSync(process.execPath, [bin, 'recover', '--out', out, ...dirs], { encoding: 'utf8' });
    expect(stdout).toContain('1 recovered, 0 failed');
    expect(readFileSync(join(out, 'kofn.txt'), 'utf8')).toBe('through kofn');
  });
  it('keeps a name longer than the file system allows: shortened on a character boundary, full name in the manifest', async () => {
    const dirs = relayDirs(2);
    const long = `${'漢'.repeat(90)}.txt`; // 274 UTF-8 bytes: accepted by the coordinator, too long for ext4
    const hex = await protectTo(dirs, long, new TextEncoder().encode('long'), 2);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const {
      files: [r],
      manifestPath
    } = await recoverDirectories(dirs, out);
    expect(r?.error).toBeUndefined();
    const saved = r!.path!.slice(out.length + 1);
    expect(Buffer.byteLength(saved)).toBeLessThanOrEqual(255);
    expect(saved).toMatch(new RegExp(`^漢+~${hex.slice(0, 8)}\\.txt$`));
    expect(readFileSync(r!.path!, 'utf8')).toBe('long');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { files: RecoveredFile[] };
    expect(manifest.files[0]).toMatchObject({ name: long, path: r!.path, renamed: expect.stringContaining('too long') });
    expect(fitFileName('short.txt', hex)).toBe('short.txt');
  });

  it('saves an authenticated file whose name is not valid UTF-8 under its file id instead of dropping it', async () => {
    const dirs = relayDirs(2);
    const fileId = randomBytes(16);
    const hex = fileIdToHex(fileId);
    const macKey = newMacKey();
    const encoder = await ShareEncoder.create({ k: 2, xs: [3, 7], fileId, epoch: 0 }, macKey);
    const record = encodeMetadata({ name: 'ab', type: 'text/plain', size: 5, chunkSize: 1000, chunkCount: 1, createdAt: 1, macKey });
    record[1 + 32 + 8 + 4 + 4 + 8 + 2] = 0xff; // the name's first byte: not UTF-8, then authenticated as such
    const chunks = [await encoder.encode(0, FLAG_METADATA, record), await encoder.encode(1, FLAG_FINAL, new TextEncoder().encode('hello'))];
    dirs.forEach((dir, j) => chunks.forEach((c, i) => writeFileSync(join(dir, `${hex}.${i}`), c[j]!)));
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const {
      files: [r]
    } = await recoverDirectories(dirs, out);
    expect(r?.error).toBeUndefined();
    expect(r?.name).toBe('\ufffdb');
    expect(r?.renamed).toContain('not valid UTF-8');
    expect(readFileSync(join(out, hex), 'utf8')).toBe('hello');
  });

  it('reports dropped and missing shares with their relay folders (disk relay layout)', async () => {
    const dirs = relayDirs(4);
    const data = randomBytes(3500);
    const hex = await protectTo(dirs, 'layout.bin', data, 2, 'disk');
    const other = await protectTo(dirs, 'other.bin', randomBytes(10), 2, 'disk');
    const chunkDir = (d: string, id: string) => join(d, 'chunks', id.slice(0, 2), id);
    const find = (d: string, id: string, i: number) =>
      join(
        chunkDir(d, id),
        readdirSync(chunkDir(d, id)).find((f) => f.startsWith(`${i}.`))!
      );
    // relay 0: a flipped byte (digest mismatch); relay 1: chunk 2 deleted; relay 2: truncated chunk 3;
    // relay 3: chunk 1 of another file moved into this file's folder under index 4's name.
    const rotten = find(dirs[0]!, hex, 1);
    const b = readFileSync(rotten);
    b[b.length - 1]! ^= 1;
    writeFileSync(rotten, b);
    rmSync(find(dirs[1]!, hex, 2));
    const torn = find(dirs[2]!, hex, 3);
    truncateSync(torn, 60);
    const intruder = find(dirs[3]!, other, 1);
    const moved = join(chunkDir(dirs[3]!, hex), `4.${createHash('sha256').update(readFileSync(intruder)).digest('hex')}`);
    rmSync(find(dirs[3]!, hex, 4));
    renameSync(intruder, moved);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const { files } = await recoverDirectories(dirs, out);
    const r = files.find((f) => f.fileId === hex)!;
    expect(r.error).toBeUndefined();
    expect(readFileSync(join(out, 'layout.bin'))).toEqual(Buffer.from(data));
    const reasons = Object.fromEntries(r.droppedShares.map((d) => [d.path, { dir: d.relayDir, reason: d.reason }]));
    expect(reasons[rotten]).toEqual({ dir: dirs[0], reason: expect.stringContaining('digest') });
    expect(reasons[torn]).toEqual({ dir: dirs[2], reason: expect.stringContaining('truncated') });
    expect(reasons[moved]).toEqual({ dir: dirs[3], reason: expect.stringContaining(`stored as file ${hex} chunk 4`) });
    expect(r.missingChunks).toEqual([
      { relayDir: dirs[0], indexes: [1] },
      { relayDir: dirs[1], indexes: [2] },
      { relayDir: dirs[2], indexes: [3] },
      { relayDir: dirs[3], indexes: [4] }
    ]);
    // The command names them too.
    const cli = join(import.meta.dirname, '..', 'dist', 'recover-cli.js');
    const stdout = execFileSync(process.execPath, [cli, '--out', mkdtempSync(join(tmpdir(), 'kofn-out-')), ...dirs], { encoding: 'utf8' });
    expect(stdout).toContain(`dropped share in ${dirs[0]}: ${rotten}`);
    expect(stdout).toContain(`missing in ${dirs[1]}: chunk 2`);
  });

  it('says plainly that a relay folder does not exist (no stack trace), exit code 2', () => {
    const cli = join(import.meta.dirname, '..', 'dist', 'recover-cli.js');
    const missing = join(tmpdir(), 'kofn-no-such-folder-0d41');
    let stderr = '';
    let status = 0;
    try {
      execFileSync(process.execPath, [cli, '--out', mkdtempSync(join(tmpdir(), 'kofn-out-')), missing], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      ({ stderr, status } = err as { stderr: string; status: number });
    }
    expect(status).toBe(2);
    expect(stderr).toBe(`kofn-recover: relay folder ${missing} does not exist\n`);
  });

  it('refuses an authenticated chunk whose length or FINAL flag the metadata does not allow', async () => {
    const dirs = relayDirs(2);
    const fileId = randomBytes(16);
    const hex = fileIdToHex(fileId);
    const macKey = newMacKey();
    const encoder = await ShareEncoder.create({ k: 2, xs: [3, 7], fileId, epoch: 0 }, macKey);
    // Metadata says 2 chunks of 4 bytes; chunk 1 is falsely FINAL (the real encoder and key sign it).
    const meta = await encoder.encodeMetadata({ name: 'two.bin', type: '', size: 8, chunkSize: 4, chunkCount: 2, createdAt: 1, macKey });
    const one = await encoder.encodeData(1, true, new TextEncoder().encode('abcd'));
    const two = await encoder.encodeData(2, true, new TextEncoder().encode('efgh'));
    dirs.forEach((dir, j) => [meta, one, two].forEach((c, i) => writeFileSync(join(dir, `${hex}.${i}`), c[j]!)));
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const {
      files: [r]
    } = await recoverDirectories(dirs, out);
    expect(r?.error?.code).toBe('STREAM_TRUNCATED');
    expect(readdirSync(out)).toEqual(['kofn-recover-manifest.json']);
  });

  it('never lets a recovered file overwrite its manifest', async () => {
    const dirs = relayDirs(2);
    await protectTo(dirs, MANIFEST_NAME, new TextEncoder().encode('not the manifest'), 2);
    const out = mkdtempSync(join(tmpdir(), 'kofn-out-'));
    const {
      files: [r],
      manifestPath
    } = await recoverDirectories(dirs, out);
    expect(r?.path).not.toBe(manifestPath);
    expect(readFileSync(r!.path!, 'utf8')).toBe('not the manifest');
    expect(JSON.parse(readFileSync(manifestPath, 'utf8'))).toHaveProperty('files');
  });

  it('is linked as the kofn-recover command by npm install (committed launcher, not only dist)', () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { bin: Record<string, string> };
    const launcher = join(import.meta.dirname, '..', pkg.bin['kofn-recover']!);
    expect(launcher).not.toContain(join('dist', ''));
    const stdout = execFileSync(process.execPath, [launcher, '--help'], { encoding: 'utf8' });
    expect(stdout).toBe('usage: kofn-recover [--out DIR] RELAY_DIR...\n');
  });
});
