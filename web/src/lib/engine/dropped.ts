/**
 * What a person dropped or picked (issue #18): loose files, and whole folders with their structure, from a
 * drag and drop of directories (DataTransferItem.webkitGetAsEntry, FileSystemDirectoryEntry), a directory
 * picked with `showDirectoryPicker()` (FileSystemDirectoryHandle) or, where that is missing, a folder picker
 * (`<input webkitdirectory>`, whose files carry `webkitRelativePath`). Only names and File handles are
 * collected here; nothing is read until each file is protected.
 */
import { KofnError } from '@kofn/shared';

/** A dropped folder: its name, its files by folder path below it, and every folder below it (empty ones too). */
export interface DroppedFolder {
  name: string;
  files: Array<{ file: File; dir: string[] }>;
  /** Each folder below the dropped one, parents before children; the dropped folder itself is not listed. */
  folders: string[][];
}

export interface Dropped {
  files: File[];
  folders: DroppedFolder[];
}

/** The most files one drop collects: past it the drop is refused before anything is protected. */
export const MAX_DROPPED_FILES = 100_000;
/** Deeper than the coordinator's folder limit (64) is refused there anyway; this bounds the walk here. */
const MAX_DEPTH = 64;

const tooMany = () => new KofnError('INVALID_ARGUMENT', `At most ${MAX_DROPPED_FILES.toLocaleString('en')} files can be dropped at once; drop fewer.`);
const tooDeep = () => new KofnError('FOLDER_TOO_DEEP', `Folders may be nested at most ${MAX_DEPTH} levels deep.`);

/** Collects folders, keeping each path once and in first-seen order (a parent is always seen before its children). */
class FolderSet {
  #seen = new Set<string>();
  readonly list: string[][] = [];

  add(path: string[]): void {
    for (let i = 1; i <= path.length; i++) {
      const prefix = path.slice(0, i);
      const key = prefix.join('/');
      if (this.#seen.has(key)) continue;
      this.#seen.add(key);
      this.list.push(prefix);
    }
  }
}

/**
 * From a folder picker's files: each `webkitRelativePath` is "top/sub/…/name". Files without one (a plain
 * picker) are loose files. A folder picker cannot report empty folders; a drag and drop can (fromEntries).
 */
export function fromRelativePaths(list: readonly File[]): Dropped {
  if (list.length > MAX_DROPPED_FILES) throw tooMany();
  const loose: File[] = [];
  const tops = new Map<string, { folder: DroppedFolder; below: FolderSet }>();
  for (const file of list) {
    const parts = file.webkitRelativePath.split('/').filter((p) => p !== '');
    if (parts.length < 2) {
      loose.push(file);
      continue;
    }
    const [top, ...rest] = parts as [string, ...string[]];
    const dir = rest.slice(0, -1);
    if (dir.length >= MAX_DEPTH) throw tooDeep();
    let t = tops.get(top);
    if (!t) {
      t = { folder: { name: top, files: [], folders: [] }, below: new FolderSet() };
      t.folder.folders = t.below.list;
      tops.set(top, t);
    }
    t.below.add(dir);
    t.folder.files.push({ file, dir });
  }
  return { files: loose, folders: [...tops.values()].map((t) => t.folder) };
}

function readBatch(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((res, rej) => reader.readEntries(res, rej));
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((res, rej) => entry.file(res, rej));
}

const isDirectory = (e: FileSystemEntry): e is FileSystemDirectoryEntry => e.isDirectory;
const isFile = (e: FileSystemEntry): e is FileSystemFileEntry => e.isFile;

/**
 * One node of a tree to walk, whichever API it came from: a dropped entry (File and Directory Entries API)
 * or a picked directory handle (File System Access API). Files are opened one by one as the walk reaches
 * them, so a large folder arrives over many small tasks, never in one.
 */
type TreeNode = { kind: 'file'; name: string; file(): Promise<File> } | { kind: 'directory'; name: string; children(): Promise<TreeNode[]> };

function entryNode(entry: FileSystemEntry): TreeNode | undefined {
  if (isFile(entry)) return { kind: 'file', name: entry.name, file: () => fileOf(entry) };
  if (!isDirectory(entry)) return undefined;
  return {
    kind: 'directory',
    name: entry.name,
    children: async () => {
      const reader = entry.createReader();
      // readEntries answers in batches (Chromium: 100 at a time) until an empty one.
      const children: FileSystemEntry[] = [];
      for (let batch = await readBatch(reader); batch.length > 0; batch = await readBatch(reader)) children.push(...batch);
      return children.flatMap((c) => entryNode(c) ?? []);
    }
  };
}

/**
 * What the walk uses of a FileSystemDirectoryHandle / FileSystemFileHandle (File System Access API). Their
 * async iteration is declared in TypeScript's DOM.AsyncIterable library, which this project does not load.
 */
export type PickedHandle = { kind: 'file'; name: string; getFile(): Promise<File> } | { kind: 'directory'; name: string; values(): AsyncIterable<PickedHandle> };

function handleNode(handle: PickedHandle): TreeNode {
  if (handle.kind === 'file') return { kind: 'file', name: handle.name, file: () => handle.getFile() };
  return {
    kind: 'directory',
    name: handle.name,
    children: async () => {
      const children: TreeNode[] = [];
      for await (const child of handle.values()) children.push(handleNode(child));
      return children;
    }
  };
}

/** Walks top-level nodes: files are loose files, directories are walked with their empty folders. */
async function walkTree(nodes: readonly TreeNode[]): Promise<Dropped> {
  const out: Dropped = { files: [], folders: [] };
  let count = 0;
  for (const node of nodes) {
    if (node.kind === 'file') {
      if (++count > MAX_DROPPED_FILES) throw tooMany();
      out.files.push(await node.file());
      continue;
    }
    const below = new FolderSet();
    const folder: DroppedFolder = { name: node.name, files: [], folders: below.list };
    const walk = async (dir: TreeNode & { kind: 'directory' }, path: string[]): Promise<void> => {
      if (path.length > MAX_DEPTH) throw tooDeep();
      if (path.length) below.add(path);
      const children = await dir.children();
      children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const child of children) {
        if (child.kind === 'file') {
          if (++count > MAX_DROPPED_FILES) throw tooMany();
          folder.files.push({ file: await child.file(), dir: path });
        } else await walk(child, [...path, child.name]);
      }
    };
    await walk(node, []);
    out.folders.push(folder);
  }
  return out;
}

/**
 * From dropped entries (taken from DataTransferItem.webkitGetAsEntry during the drop event: they are gone
 * after it): files at the top are loose files, directories are walked with their empty folders.
 */
export function fromEntries(entries: readonly FileSystemEntry[]): Promise<Dropped> {
  return walkTree(entries.flatMap((e) => entryNode(e) ?? []));
}

/**
 * From a directory chosen with `showDirectoryPicker()` (File System Access API): walked like a dropped
 * directory, empty folders included. Chromium hands a folder picker's (`<input webkitdirectory>`) files to
 * the page all at once, in one task that took 164-260 ms for 1,000 files (issue #18's bench); a handle is
 * walked file by file instead.
 */
export function fromDirectoryHandle(handle: PickedHandle & { kind: 'directory' }): Promise<Dropped> {
  return walkTree([handleNode(handle)]);
}
