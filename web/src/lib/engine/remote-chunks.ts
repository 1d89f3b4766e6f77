/**
 * Share chunks of a remote group (issue #21 part 2, federation; remote-groups.ts). On the other deployment X
 * the group's sub-file is an ordinary flat file of X's user: its share chunks carry X's file id and epoch in
 * a version-1 header (x and k_g of the group), so X's own commit checks, renewal and repair see a plain
 * (k_g, n_g) sharing of the group's share and X learns nothing of the tree. The share worker rewrites the
 * headers to and from the tree's version-3 form here; the body, the sub-share, is never touched. Kept apart
 * from remote-groups.ts so the worker does not load the federation client.
 */
import { fileIdFromHex, flatHeaderToTree, treeHeaderToFlat } from '@kofn/shared';

/** Where a remote group's sub-shares are at X, and where they sit in the tree (carried by each relay target). */
export interface RemoteChunkTarget {
  /** The sub-file's id at X (its relays' URLs name it). */
  fileId: string;
  /** X's epoch of the sub-file (X's own renewal may move it on). */
  epoch: number;
  /** The group's x at the top level and the top threshold K (version-3 header bytes 36, 37). */
  groupX: number;
  groupK: number;
}

/**
 * A tree share chunk (version 3) made into X's form, in place: version 1, X's file id and epoch, bytes 36..39
 * zero. A chunk that is not version 3 is a bug in the caller (the encoder writes only version 3 for trees).
 */
export function toRemoteChunk(chunk: Uint8Array, target: Pick<RemoteChunkTarget, 'fileId' | 'epoch'>): void {
  treeHeaderToFlat(chunk, { fileId: fileIdFromHex(target.fileId), epoch: target.epoch });
}

/**
 * A share chunk read from X made back into the tree's form, in place: version 3, the home file's id and
 * epoch, the group's x and K. Only a version-1 chunk of exactly that sub-file and epoch is rewritten; any
 * other is left as it came, so the tree decoder refuses it (a flat share, another file) and names its relay.
 */
export function fromRemoteChunk(chunk: Uint8Array, target: RemoteChunkTarget, home: { fileId: Uint8Array; epoch: number }): void {
  flatHeaderToTree(chunk, { fileId: fileIdFromHex(target.fileId), epoch: target.epoch }, { ...home, groupX: target.groupX, groupK: target.groupK });
}
