import { describe, expect, it } from 'vitest';
import { fromRelativePaths, MAX_DROPPED_FILES } from './dropped';

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
    const many = { length: MAX_DROPPED_FILES + 1 } as unknown as File[];
    expect(() => fromRelativePaths(many)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
