/**
 * The coordinator's answers that the browser engine, the page and the command-line client read (issue #14:
 * the API types live once, in shared, and the server checks its answers against them with `satisfies`).
 * Routes: see web/docs/api.md. A field here is a promise to every client: change it in one place.
 */
import type { TreeManifest } from '../layout.js';
import type { FileMode } from '../share-sizes.js';
import type { ErrorCode } from '../errors.js';

/** A share link as its owner sees it: `GET/POST /api/links`, `PATCH /api/links/:id` (web and `kofn link`). */
export interface LinkView {
  id: string;
  fileId: string;
  fileName: string;
  passwordProtected: boolean;
  expiresAt: string;
  maxDownloads: number | null;
  downloads: number;
  lastDownloadAt: string | null;
  createdAt: string;
  revokedAt: string | null;
  state: 'active' | 'expired' | 'used up' | 'revoked';
}

/** One relay's capability for one file: `POST /api/files/:id/tokens`, link tokens, batch answers. */
export interface RelayToken {
  relayId: string;
  token: string;
}

/** `POST /api/files/:id/tokens` and `POST /api/links/:id/tokens`. */
export interface FreshTokens {
  tokens: RelayToken[];
}

/** Where one share of a reserved file goes, with its put token. */
export interface ReservationPlacement {
  relayId: string;
  name: string;
  url: string;
  x: number;
  token: string;
  /** Tree files (issue #21): the x of the relay's group. */
  groupX?: number;
}

/** `POST /api/files` (201), and each reserved item of `POST /api/files/batch`. */
export interface Reservation {
  fileId: string;
  /** The name reserved: the one asked for, or the free one `onConflict: 'keepBoth'` chose. */
  name?: string;
  k: number;
  n: number;
  chunkSize: number;
  chunkCount: number;
  epoch: number;
  /** How the file's data chunks are stored (issue #23; absent from coordinators before compact mode: 'shamir'). */
  mode?: FileMode;
  placements: ReservationPlacement[];
  /**
   * Tree files (issue #21, docs/multilevel.md): the manifest tree; `k` is then K and `placements` are in
   * the order of treeRelays(layout). Absent: a flat (k, n) file.
   */
  layout?: TreeManifest;
}

/** `POST /api/files/:id/replace-relay`. */
export interface RelayReplacement {
  replaced: string;
  placement: ReservationPlacement;
}

/** `POST /api/files/:id/commit`, and each committed item of `POST /api/files/commit`. */
export interface CommitResult {
  fileId: string;
  status: 'available';
}

/** `DELETE /api/files/:id`. */
export interface RemoveResult {
  fileId: string;
  /** `trashed`: an available file went to the trash (issue #18); `deleting`: an upload never committed. */
  status: 'deleting' | 'trashed';
}

/**
 * What a reservation does when its name is taken in its folder (issue #18): `fail` (the default) and
 * `skip` refuse it with FILENAME_IN_USE (skip says the client will go on with the others); `keepBoth`
 * reserves under the first free "name (2).ext"; `replace` reserves under the name and, when the new file
 * commits, moves the old one to the trash.
 */
export type OnNameConflict = 'fail' | 'skip' | 'keepBoth' | 'replace';

/** A folder as `/api/folders` answers it. */
export interface FolderView {
  id: string;
  name: string;
  parentId: string | null;
  createdAt: string;
}

/** `GET /api/folders?parent=…`: one page of a folder, folders first, then files, each by name. */
export interface FolderListing {
  /** The folder listed; null for the root. */
  folder: FolderView | null;
  /** Breadcrumbs: from the top folder down to the one listed (empty for the root). */
  path: Array<{ id: string; name: string }>;
  folders: FolderView[];
  files: FileView[];
  /** Pass as `cursor` for the next page; null on the last. */
  nextCursor: string | null;
}

/** One top-level item of `GET /api/trash`: what the person trashed (a folder brings its contents). */
export interface TrashItem {
  kind: 'file' | 'folder';
  id: string;
  name: string;
  /** Bytes still counted against the quota (a folder: every file under it). */
  size: number;
  trashedAt: string;
  /** When the automatic purge removes it for good (KOFN_TRASH_DAYS after trashedAt). */
  purgeAt: string;
}

export interface TrashListing {
  items: TrashItem[];
  nextCursor: string | null;
}

/**
 * One item's outcome in a bulk folder request (`POST /api/folders/bulk`, `POST /api/trash/restore`).
 * `revoked` (action `revoke` only): how many people lost read access and how many links were revoked.
 */
export type BulkResult = { ok: true; kind: 'file' | 'folder'; id: string; revoked?: { people: number; links: number } } | BatchFailure;

/** `GET /api/files/:id/manifest` and `POST /api/links/:id/open`. */
export interface Manifest {
  fileId: string;
  /** The name inside the file's authenticated metadata record: retrieval checks the record against it. */
  name: string;
  /** The coordinator's display name after a rename (issue #18); retrieval saves under it. Absent: `name`. */
  displayName?: string;
  size: number;
  type: string;
  k: number;
  n: number;
  chunkSize: number;
  chunkCount: number;
  epoch: number;
  /** How the file's data chunks are stored (issue #23; absent: 'shamir'). Retrieval reads the mode from the authenticated record. */
  mode?: FileMode;
  placements: Array<{ relayId: string; name: string; url: string; location: string; x: number; online: boolean; token: string; groupX?: number }>;
  /** Tree files (issue #21): the manifest tree (K, groups with their x, k_g and relays). Absent: flat. */
  layout?: TreeManifest;
}

export type FileStatus = 'reserved' | 'available' | 'deleting' | 'deleted';
export type FileHealthState = 'healthy' | 'degraded' | 'at_risk' | 'unrecoverable';

/** One file of `GET /api/files` and `GET /api/shared/with-me` (the latter with `owner`). */
export interface FileView {
  id: string;
  name: string;
  /** The folder the file is in (issue #18); null: the root. */
  folderId?: string | null;
  size: number;
  type: string;
  k: number;
  n: number;
  /** 'shamir' (information-theoretic) or 'compact' (AES-256-GCM + Reed-Solomon, docs/compact-mode.md). */
  mode: FileMode;
  status: FileStatus;
  createdAt: string;
  modifiedAt: string;
  lastRenewal: string | null;
  /** Proactive renewal (#15). */
  epoch: number;
  nextRenewal: string;
  renewalDue: boolean;
  expired: boolean;
  /** Only on the owner's list: a renewal in progress or failed. */
  renewal?: { state: 'in_progress' | 'failed'; reason?: string } | null;
  relays: Array<{ relayId: string; name: string; location: string; online: boolean }>;
  /** Issue #21: a tree file's manifest tree (K, groups with k_g and relays); absent: flat (k of n). */
  layout?: TreeManifest;
  owner?: { email: string; displayName: string };
  /** From the coordinator's periodic check (issue #16); null until the file's first check. */
  health: { state: FileHealthState; checkedAt: string; shares: Array<{ relayId: string; name: string; state: string; detail: string }> } | null;
  /**
   * Only on the owner's lists (shared/docs/repair.md, "Verification by the owner's browser"): repaired shares,
   * good by digest, that await authentication by the owner's browser; null when none does.
   */
  verify?: RepairCheck | null;
  /** When the owner's browser last authenticated a repaired share of this file; null while one awaits it. */
  verifiedAt?: string | null;
}

/** Repaired shares of one file awaiting the owner's browser: the file's current epoch and the relays holding them. */
export interface RepairCheck {
  epoch: number;
  relayIds: string[];
}

/** `GET /api/files/verification`: the signed-in owner's files with repaired shares to authenticate. */
export interface PendingVerifications {
  /** `k`: how many shares rebuild the file, so the browser reads the repaired ones in groups of at most k. */
  files: Array<RepairCheck & { fileId: string; k: number }>;
}

/**
 * `POST /api/files/:id/verification`: what the owner's browser found. `ok` true: every share of `relayIds`
 * took part in rebuilding every chunk, and each chunk authenticated. `ok` false: the shares of
 * `badRelayIds` (a non-empty subset of `relayIds`) sent data failing authentication.
 */
export interface VerificationReport {
  epoch: number;
  relayIds: string[];
  ok: boolean;
  badRelayIds?: string[];
}

/** The answer: which shares this report verified or found failing now (empty when it changed nothing). */
export interface VerificationResult {
  fileId: string;
  epoch: number;
  verified: string[];
  failed: string[];
}

/** `GET /api/files` and `GET /api/shared/with-me`. */
export interface FileList {
  files: FileView[];
}

/** `GET /api/usage`: the deployment against the licence, and the signed-in user's own bytes. */
export interface Usage {
  protectedBytes: number;
  limitBytes: number;
  percent: number;
  ownBytes: number;
}

/** One storage server in the administrators' usage breakdown (Administration page). */
export interface RelayUsage {
  id: string;
  name: string;
  status: 'online' | 'offline';
  lifecycle: 'active' | 'draining' | 'lost' | 'retired';
  storage: string;
  /** Committed files with a share on this relay, and their plaintext bytes (each share is about that size). */
  files: number;
  dataBytes: number;
  /** What the relay last reported in its signed heartbeat: bytes in its store, free space (null: not reported). */
  usedBytes: number;
  freeBytes: number | null;
}

/** One person in the administrators' usage breakdown: committed files, counted like protected bytes. */
export interface UserUsage {
  id: string;
  email: string;
  displayName: string;
  files: number;
  protectedBytes: number;
}

export interface UsageBreakdown {
  relays: RelayUsage[];
  users: UserUsage[];
}

/** `GET /api/storage`. */
export interface StorageList {
  /** `freeBytes` null: the relay's store reports no free space (S3). */
  relays: Array<{ id: string; name: string; host: string; location: string; status: string; freeBytes: number | null; usedBytes: number }>;
}

/** One item of a batch that failed: the code and message the single-file route would have answered. */
export interface BatchFailure {
  ok: false;
  error: { code: ErrorCode; message: string };
}

/** `POST /api/files/batch`: one result per requested file, in request order. */
export interface BatchReservations {
  results: Array<{ ok: true; reservation: Reservation } | BatchFailure>;
}

/** `POST /api/files/commit`: one result per file, in request order. */
export interface BatchCommits {
  results: Array<{ ok: true; commit: CommitResult } | BatchFailure>;
}

/**
 * `GET /api/federation/remote/files/:id` (issue #21 part 2, docs/federation.md): a federated sub-file as the
 * deployment holding it answers the browser that made it (signed request; no tokens in it).
 */
export interface RemoteStatus {
  fileId: string;
  /** reserved, available, deleting (the holding deployment's file states). */
  status: string;
  size: number;
  k: number;
  n: number;
  chunkSize: number;
  chunkCount: number;
  epoch: number;
  placements: Array<{ relayId: string; name: string; url: string; x: number; online: boolean }>;
}

/** A federation link token as the deployment that issued it lists it (`GET /api/federation/links`, admin; issue #21 part 2). */
export interface FederationLinkView {
  handle: string;
  name: string;
  origin: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
  userLinks: number;
}
