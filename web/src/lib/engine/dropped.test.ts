import { describe, expect, it } from 'vitest';
import { fromDirectoryHandle, fromEntries, fromRelativePaths, MAX_DROPPED_FILES, type PickedHandle } from './dropped';

/** A File as a folder picker hands it out: with the path below the picked folder's parent. */
function picked(path: string, size = 1): File {
  const file = new File([new Uint8Array(size)], path.split('/').pop()!);
  Object.defineProperty(file, 'webkitRelativePath', { value: path });
  return file;
}

describe('fromRelativePaths (a folder picker: <input webkitdirectory>)', () => {
  it('groups files under their top folder with their folder paths, parents before children', () => {
    const d = fromRelativePaths([picked('album/a.txt'), picked('album/sub/deeper/d.bin'), picked('album/sub/c.bin'), picked('other/x')]);
    expect(d.files).toEqual([]);
    expect(d.folders.map((f) => f.name)).toEqual(['album', 'other']);
    const album = d.folders[0]!;
    expect(album.files.map((f) => [f.file.name, f.dir.join('/')])).toEqual([
      ['a.txt', ''],
      ['d.bin', 'sub/deeper'],
      ['c.bin', 'sub']
    ]);
    expect(album.folders.map((p) => p.join('/'))).toEqual(['sub', 'sub/deeper']);
    expect(d.folders[1]!.folders).toEqual([]);
  });

  it('keeps files without a relative path (a plain picker) as loose files', () => {
    // A browser gives every File a webkitRelativePath, '' unless it came from a folder picker.
    const plain = new File(['x'], 'plain.txt');
    Object.defineProperty(plain, 'webkitRelativePath', { value: '' });
    const d = fromRelativePaths([plain, picked('album/a.txt')]);
    expect(d.files).toEqual([plain]);
    expect(d.folders).toHaveLength(1);
  });

  it('refuses nesting deeper than the coordinator allows before anything is protected', () => {
    const deep = Array.from({ length: 70 }, (_, i) => `d${i}`).join('/');
    expect(() => fromRelativePaths([picked(`top/${deep}/f`)])).toThrow(expect.objectContaining({ code: 'FOLDER_TOO_DEEP' }));
  });

  it('refuses more files than one drop collects, with a code', () => {
    // Only the length is read before the refusal: no need to make 100,001 Files.
    const many = { length: MAX_DROPPED_FILES + 1 } as unknown as File[];
    expect(() => fromRelativePaths(many)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

/**
 * Dropped entries as Chromium hands them out (File and Directory Entries API): a directory reader answers
 * in batches (100 at a time in Chromium) until an empty one. The walk's edges (batches, order, depth) are
 * checked here; e2e/tests/folder-drop.spec.ts drops a real directory through the browser's own drag and drop.
 */
type Node = { file: number } | { dir: Record<string, Node> };
// The fakes have only what the walk uses (name, isFile/isDirectory, file(), createReader()), hence the casts.
function entry(name: string, node: Node, batch = 2): FileSystemEntry {
  if ('file' in node) {
    const file = new File([new Uint8Array(node.file)], name);
    return { name, isFile: true, isDirectory: false, file: (ok: (f: File) => void) => ok(file) } as unknown as FileSystemEntry;
  }
  const children = Object.entries(node.dir).map(([n, c]) => entry(n, c, batch));
  return {
    name,
    isFile: false,
    isDirectory: true,
    createReader: () => {
      let at = 0;
      return {
        readEntries: (ok: (e: FileSystemEntry[]) => void) => {
          const out = children.slice(at, at + batch);
          at += out.length;
          setTimeout(() => ok(out), 0);
        }
      };
    }
  } as unknown as FileSystemEntry;
}

describe('fromEntries (a drag and drop of folders)', () => {
  it('walks every batch, keeps the structure and empty folders, and takes top-level files as loose files', async () => {
    const album = entry('album', {
      dir: { 'z.txt': { file: 3 }, 'a.txt': { file: 1 }, empty: { dir: {} }, sub: { dir: { 'c.bin': { file: 5 }, deeper: { dir: { 'd.bin': { file: 2 } } } } }, 'b.txt': { file: 2 } }
    });
    const d = await fromEntries([album, entry('loose.txt', { file: 4 })]);
    expect(d.files.map((f) => f.name)).toEqual(['loose.txt']);
    expect(d.folders).toHaveLength(1);
    const f = d.folders[0]!;
    expect(f.name).toBe('album');
    expect(f.files.map((x) => [x.dir.join('/'), x.file.name, x.file.size])).toEqual([
      ['', 'a.txt', 1],
      ['', 'b.txt', 2],
      ['sub', 'c.bin', 5],
      ['sub/deeper', 'd.bin', 2],
      ['', 'z.txt', 3]
    ]);
    expect(f.folders.map((p) => p.join('/'))).toEqual(['empty', 'sub', 'sub/deeper']);
  });

  it('refuses a tree nested deeper than the coordinator allows', async () => {
    let node: Node = { file: 1 };
    for (let i = 0; i < 70; i++) node = { dir: { [`d${i}`]: node } };
    await expect(fromEntries([entry('top', node)])).rejects.toMatchObject({ code: 'FOLDER_TOO_DEEP' });
  });
});

/** A picked directory as the File System Access API hands it out: handles iterated asynchronously. */
function handle(name: string, node: Node): PickedHandle {
  if ('file' in node) {
    const file = new File([new Uint8Array(node.file)], name);
    return { kind: 'file', name, getFile: () => Promise.resolve(file) };
  }
  const children = Object.entries(node.dir).map(([n, c]) => handle(n, c));
  return {
    kind: 'directory',
    name,
    values: async function* () {
      for (const c of children) {
        await new Promise((r) => setTimeout(r, 0));
        yield c;
      }
    }
  };
}

describe('fromDirectoryHandle (a directory picker: showDirectoryPicker)', () => {
  const dir = (name: string, node: Node) => handle(name, node) as PickedHandle & { kind: 'directory' };

  it('walks the tree in name order, with its empty folders, as a drop of the same folder', async () => {
    const tree: Node = { dir: { 'z.txt': { file: 3 }, empty: { dir: {} }, sub: { dir: { 'c.bin': { file: 5 }, deeper: { dir: { 'd.bin': { file: 2 } } } } }, 'a.txt': { file: 1 } } };
    const d = await fromDirectoryHandle(dir('album', tree));
    expect(d.files).toEqual([]);
    expect(d.folders).toHaveLength(1);
    const f = d.folders[0]!;
    expect(f.name).toBe('album');
    expect(f.files.map((x) => [x.dir.join('/'), x.file.name, x.file.size])).toEqual([
      ['', 'a.txt', 1],
      ['sub', 'c.bin', 5],
      ['sub/deeper', 'd.bin', 2],
      ['', 'z.txt', 3]
    ]);
    expect(f.folders.map((p) => p.join('/'))).toEqual(['empty', 'sub', 'sub/deeper']);
    // The same folder dropped gives the same result.
    const dropped = await fromEntries([entry('album', tree)]);
    expect(dropped.folders[0]!.folders).toEqual(f.folders);
    expect(dropped.folders[0]!.files.map((x) => [x.dir, x.file.name])).toEqual(f.files.map((x) => [x.dir, x.file.name]));
  });

  it('refuses a tree nested deeper than the coordinator allows', async () => {
    let node: Node = { file: 1 };
    for (let i = 0; i < 70; i++) node = { dir: { [`d${i}`]: node } };
    await expect(fromDirectoryHandle(dir('top', node))).rejects.toMatchObject({ code: 'FOLDER_TOO_DEEP' });
  });
});
