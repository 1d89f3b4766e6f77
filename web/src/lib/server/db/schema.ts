/**
 * The coordinator's schema: one definition for PostgreSQL and PGlite; migrations are generated from it
 * by drizzle-kit (`npm run db:generate -w web`) into `web/drizzle/`.
 */
import { sql } from 'drizzle-orm';
import { bigint, bigserial, boolean, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid, type AnyPgColumn } from 'drizzle-orm/pg-core';
import type { TreeManifest } from '@kofn/shared';

export const relays = pgTable('relays', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  url: text('url').notNull(),
  location: text('location').notNull(),
  version: text('version').notNull(),
  storage: text('storage').notNull(),
  /** Free space the relay last reported for its store; null: its store has no such figure (S3). */
  freeBytes: bigint('free_bytes', { mode: 'number' }),
  usedBytes: bigint('used_bytes', { mode: 'number' }).notNull(),
  registeredAt: timestamp('registered_at', { withTimezone: true }).notNull().defaultNow(),
  lastHeartbeat: timestamp('last_heartbeat', { withTimezone: true }).notNull(),
  /**
   * The relay's Ed25519 public key (32 bytes, base64url), pinned by its one-time enrollment. Null only for
   * relays registered before relay identity existed (join secret): they must be enrolled again to heartbeat.
   */
  publicKey: text('public_key'),
  /** Timestamp (ms) of the newest signed message accepted from this relay: older or equal ones are replays. */
  lastSignedAt: bigint('last_signed_at', { mode: 'number' }).notNull().default(0),
  /**
   * Relay lifecycle (issue #16, relay-lifecycle.ts): only `active` relays take new shares. `draining`: its
   * shares move to other relays; `lost`: gone for good, its shares are rebuilt elsewhere; `retired`: holds
   * nothing, no longer listed for uploads nor counted against the licence's relay limit.
   */
  lifecycle: text('lifecycle', { enum: ['active', 'draining', 'lost', 'retired'] })
    .notNull()
    .default('active'),
  lifecycleAt: timestamp('lifecycle_at', { withTimezone: true }),
  /** Shares the relay held when its drain (or loss) began: progress is measured against it. */
  moveTotal: integer('move_total'),
  /**
   * Multi-level sharing (issue #21): the group an administrator put this relay in (a cloud, a site), used
   * to offer two-level layouts ("3 groups, any 2"); null: in no group. Not a security boundary by itself.
   */
  groupLabel: text('group_label')
});

/**
 * One-time enrollment tokens made by an administrator: a relay presents one with its public key to join.
 * Only the SHA-256 of the token is kept. `relayId` set means the token re-keys that existing relay
 * (key replacement, or a relay registered before relay identity existed).
 */
export const relayEnrollments = pgTable('relay_enrollments', {
  id: text('id').primaryKey(),
  tokenHash: text('token_hash').notNull().unique(),
  label: text('label').notNull(),
  relayId: text('relay_id').references(() => relays.id, { onDelete: 'cascade' }),
  createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  usedAt: timestamp('used_at', { withTimezone: true }),
  /** The relay that used it, and with which key: lets a relay whose answer was lost retry safely. */
  usedByRelay: text('used_by_relay'),
  usedWithKey: text('used_with_key')
});

/** The coordinator's Ed25519 key pairs for capability tokens; the newest signs, all are published. */
export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  publicJwk: text('public_jwk').notNull(),
  privateJwk: text('private_jwk').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
});

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey(),
    /** Lower-cased; the login name. */
    email: text('email').notNull(),
    displayName: text('display_name').notNull(),
    /** argon2id PHC string; null for accounts that only sign in through a trusted proxy header. */
    passwordHash: text('password_hash'),
    role: text('role', { enum: ['admin', 'user'] }).notNull(),
    disabled: boolean('disabled').notNull().default(false),
    /** Set when an administrator chose the password (issue #19): only changing it is allowed until then. */
    mustChangePassword: boolean('must_change_password').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [uniqueIndex('users_email_idx').on(t.email)]
);

export const sessions = pgTable(
  'sessions',
  {
    /** SHA-256 of the cookie value: a database leak does not hand out live sessions. */
    id: text('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    csrfToken: text('csrf_token').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull()
  },
  (t) => [index('sessions_user_idx').on(t.userId)]
);

/**
 * Personal API tokens (issue #19, #20): bearer credentials for scripts and the CLI. Like sessions, only
 * the SHA-256 of the secret is kept; `handle` is a separate random public name for listing and revoking,
 * so nothing a list shows can be replayed.
 */
export const apiTokens = pgTable(
  'api_tokens',
  {
    id: text('id').primaryKey(),
    handle: text('handle').notNull(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** Null: never expires (the owner revokes it). */
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    /**
     * What the token may do (token-scopes.ts). Tokens made before scopes existed keep the file API they
     * had (read, write, share) but not the administrators' routes: an admin scope is now asked for explicitly.
     */
    scopes: text('scopes')
      .array()
      .notNull()
      .default(sql`'{read,write,share}'::text[]`)
  },
  (t) => [uniqueIndex('api_tokens_handle_idx').on(t.handle), index('api_tokens_user_idx').on(t.userId)]
);

/**
 * Passkeys (WebAuthn, issue #19; passkeys.ts): a user's registered credentials. `id` is the credential ID
 * (base64url) the authenticator chose; only public material is kept, so a database leak signs nobody in.
 */
export const passkeys = pgTable(
  'passkeys',
  {
    id: text('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    /** COSE public key, base64url. */
    publicKey: text('public_key').notNull(),
    /** Signature counter (WebAuthn §6.1.1); 0 for authenticators that keep none, as synced passkeys do. */
    counter: bigint('counter', { mode: 'number' }).notNull(),
    transports: jsonb('transports').$type<string[]>().notNull(),
    /** 'singleDevice' or 'multiDevice' (a synced passkey), and whether it is backed up now (BE/BS flags). */
    deviceType: text('device_type').notNull(),
    backedUp: boolean('backed_up').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true })
  },
  (t) => [index('passkeys_user_idx').on(t.userId)]
);

/**
 * WebAuthn challenges handed out and not yet used (passkeys.ts). Deleted when used, so each is good for
 * one ceremony; expired ones are purged by maintenance. Sign-in challenges belong to nobody yet and are
 * counted per client address.
 */
export const webauthnChallenges = pgTable(
  'webauthn_challenges',
  {
    /** The challenge itself, base64url (32 random bytes): public, it is sent to the browser. */
    challenge: text('challenge').primaryKey(),
    purpose: text('purpose', { enum: ['register', 'login'] }).notNull(),
    /** The registering user; null for sign-in. */
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    /** Who asked for a sign-in challenge (SHA-256 of the client address), for the per-address cap. */
    client: text('client').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull()
  },
  (t) => [index('webauthn_challenges_client_idx').on(t.client, t.expiresAt), index('webauthn_challenges_expiry_idx').on(t.expiresAt)]
);

/** Failed logins per key (e-mail and client address), for rate limiting across replicas. */
export const loginFailures = pgTable('login_failures', {
  key: text('key').primaryKey(),
  count: integer('count').notNull(),
  windowStart: timestamp('window_start', { withTimezone: true }).notNull()
});

/**
 * Folders (issue #18; folders.ts): structure the coordinator keeps, never stored on relays. A folder
 * belongs to one owner; `parentId` null is the owner's root. Names are unique per parent among folders not
 * in the trash, and a folder and a file of one parent never share a name (folders.ts checks that under the
 * owner's lock, as one index cannot span two tables). Trashing (trash.ts) stamps the folder and everything
 * under it with the same `trashedWith` (the id of the item the person trashed), so a trashed subtree is
 * restored or purged as one.
 */
export const folders = pgTable(
  'folders',
  {
    /** 32 lowercase hex digits, random. */
    id: text('id').primaryKey(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    parentId: text('parent_id').references((): AnyPgColumn => folders.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    trashedAt: timestamp('trashed_at', { withTimezone: true }),
    trashedWith: text('trashed_with')
  },
  (t) => [
    uniqueIndex('folders_parent_name_idx')
      .on(t.ownerId, sql`coalesce(${t.parentId}, '')`, t.name)
      .where(sql`trashed_at is null`),
    index('folders_parent_idx').on(t.parentId),
    index('folders_trash_idx').on(t.ownerId, t.trashedWith)
  ]
);

export const files = pgTable(
  'files',
  {
    /** 32 lowercase hex digits, random. */
    id: text('id').primaryKey(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id),
    name: text('name').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    type: text('type').notNull(),
    k: integer('k').notNull(),
    n: integer('n').notNull(),
    chunkSize: integer('chunk_size').notNull(),
    chunkCount: integer('chunk_count').notNull(),
    epoch: integer('epoch').notNull().default(0),
    /**
     * Issue #23: how the data chunks are stored. 'shamir' (every chunk Shamir-split) or 'compact' (AES-256-GCM
     * + Reed-Solomon fragments, only chunk 0 Shamir-split; shared/docs/compact-mode.md). Files from before
     * the column are Shamir files.
     */
    mode: text('mode', { enum: ['shamir', 'compact'] })
      .notNull()
      .default('shamir'),
    status: text('status', { enum: ['reserved', 'available', 'deleting', 'deleted'] }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    committedAt: timestamp('committed_at', { withTimezone: true }),
    lastRenewalAt: timestamp('last_renewal_at', { withTimezone: true }),
    deletedAt: timestamp('deleted_at', { withTimezone: true }),
    /** The folder the file is in (issue #18); null: the owner's root. */
    folderId: text('folder_id').references(() => folders.id, { onDelete: 'set null' }),
    /**
     * The name inside the file's authenticated metadata record, kept once the file is renamed (`name` is
     * then the coordinator's display name); null: never renamed, the record holds `name`. Retrieval checks
     * the record against this and saves under the display name (shared/docs/folders.md).
     */
    recordName: text('record_name'),
    /** In the trash since (trash.ts); still counted against the quota until purged. */
    trashedAt: timestamp('trashed_at', { withTimezone: true }),
    /** The item the person trashed (this file, or a folder above it): restored and purged together. */
    trashedWith: text('trashed_with'),
    /** A reservation made with `onConflict: 'replace'`: the file of that name goes to the trash when this one commits. */
    replacesId: text('replaces_id'),
    /**
     * Multi-level sharing (issue #21, shared/docs/multilevel.md): the manifest tree of a tree file (top
     * threshold K, its groups with their x, k_g and relays with their x); null: a flat (k, n) file. For a
     * tree file `k` is K and `n` the number of relays over all groups.
     */
    layout: jsonb('layout').$type<TreeManifest>()
  },
  (t) => [
    // Names are unique per folder among files that are not deleted nor in the trash; a reservation that
    // replaces a file takes the name only when it commits (files.ts).
    uniqueIndex('files_folder_name_idx')
      .on(t.ownerId, sql`coalesce(${t.folderId}, '')`, t.name)
      .where(sql`status <> 'deleted' and trashed_at is null and replaces_id is null`),
    index('files_owner_idx').on(t.ownerId, t.status),
    index('files_trash_idx').on(t.ownerId, t.trashedWith),
    // The folder list's keyset orders by size and by date (folders.ts listFolder: (key, id), both
    // directions), over the same rows and predicate as the name index above, so a page walks the index
    // from the cursor instead of sorting the whole folder (issue #18; at 100,000 files in one folder such a
    // page took 1.4-2.5 s on PGlite). Ordering by name uses files_folder_name_idx (names are unique there).
    index('files_folder_size_idx')
      .on(t.ownerId, sql`coalesce(${t.folderId}, '')`, t.size, t.id)
      .where(sql`status <> 'deleted' and trashed_at is null and replaces_id is null`),
    index('files_folder_date_idx')
      .on(t.ownerId, sql`coalesce(${t.folderId}, '')`, sql`coalesce(${t.committedAt}, ${t.createdAt})`, t.id)
      .where(sql`status <> 'deleted' and trashed_at is null and replaces_id is null`),
    // Search by name (folders.ts listFolder `q`: ILIKE '%…%', a substring anywhere, which no btree serves):
    // trigrams (pg_trgm, migration 0018; PGlite loads the extension, db/index.ts). Without it every search
    // read and case-folded every name of the account: 0.5-1.3 s on PGlite at 100,000 files (issue #18).
    index('files_name_trgm_idx')
      .using('gin', t.name.op('gin_trgm_ops'))
      .where(sql`status <> 'deleted' and trashed_at is null and replaces_id is null`)
  ]
);

/** Where each share of a file lives: relay, x-coordinate, and the digest over its stored share chunks. */
export const placements = pgTable(
  'placements',
  {
    fileId: text('file_id')
      .notNull()
      .references(() => files.id, { onDelete: 'cascade' }),
    relayId: text('relay_id')
      .notNull()
      .references(() => relays.id),
    x: integer('x').notNull(),
    /** Tree files (issue #21): the x of the relay's group at the top level; null for a flat file. */
    groupX: integer('group_x'),
    /**
     * SHA-256 over the SHA-256 of each stored share chunk, in index order, at epoch `rootEpoch`: set at
     * commit (epoch 0) and again by each renewal's switch (the staged epoch's chunks), so the check and
     * repair verify a renewed file's shares by digest too.
     */
    digestRoot: text('digest_root'),
    /** The epoch `digestRoot` describes. A file renewed before roots were kept per epoch has 0 here. */
    rootEpoch: integer('root_epoch').notNull().default(0)
  },
  (t) => [primaryKey({ columns: [t.fileId, t.relayId] }), uniqueIndex('placements_file_x_idx').on(t.fileId, t.x)]
);

export const grants = pgTable(
  'grants',
  {
    fileId: text('file_id')
      .notNull()
      .references(() => files.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [primaryKey({ columns: [t.fileId, t.userId] }), index('grants_user_idx').on(t.userId)]
);

export const history = pgTable(
  'history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    operation: text('operation', {
      enum: [
        'protect',
        'retrieve',
        'remove',
        'share',
        'revoke',
        'relay_enrollment',
        'relay_enrolled',
        'relay_changed',
        'relay_lifecycle',
        'renew',
        'check',
        'repair',
        'link_create',
        'link_edit',
        'link_use',
        'link_revoke',
        'user_changed',
        'token_create',
        'token_revoke',
        'passkey_add',
        'passkey_rename',
        'passkey_remove',
        'passkey_use',
        'totp_enable',
        'totp_disable',
        'recovery_codes_new',
        'recovery_code_use',
        'security_policy',
        'preview_limit'
      ]
    }).notNull(),
    fileId: text('file_id'),
    fileName: text('file_name').notNull(),
    result: text('result', { enum: ['ok', 'error'] }).notNull(),
    detail: text('detail').notNull().default(''),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [
    index('history_user_idx').on(t.userId, t.createdAt),
    // A listing page's renewal state (renewal.ts renewalStates): each file's latest "renew" entry. History
    // holds at least one row per file ever committed, and without this a page of 500 files scanned all of
    // it (issue #18, migration 0018); renew rows only, so the index stays small and other writes skip it.
    index('history_renew_file_idx')
      .on(t.fileId, t.createdAt)
      .where(sql`operation = 'renew'`)
  ]
);

/**
 * Share links (issue #19): a file readable by whoever holds the link's secret (URL fragment, never sent)
 * and password. Only the link's Ed25519 public key is kept (shared/src/link-proof.ts): a leaked row
 * cannot open the link. Rows are deleted by maintenance once expired.
 */
export const shareLinks = pgTable(
  'share_links',
  {
    /** 16 random bytes, base64url: says nothing about the file, owner or time. */
    id: text('id').primaryKey(),
    fileId: text('file_id')
      .notNull()
      .references(() => files.id, { onDelete: 'cascade' }),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** Raw Ed25519 public key, base64url: the verifier. */
    publicKey: text('public_key').notNull(),
    passwordProtected: boolean('password_protected').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
    /** Null: no limit. */
    maxDownloads: integer('max_downloads'),
    downloads: integer('downloads').notNull().default(0),
    lastDownloadAt: timestamp('last_download_at', { withTimezone: true }),
    /** Proof attempts in the window that began at attemptsSince (password rate limit). */
    attempts: integer('attempts').notNull().default(0),
    attemptsSince: timestamp('attempts_since', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [index('share_links_owner_idx').on(t.ownerId, t.fileId), index('share_links_expiry_idx').on(t.expiresAt)]
);

/**
 * Link proofs accepted within the clock window (share-links.ts): a proof seen again is a replay. Rows
 * older than the window are purged by maintenance; older proofs are refused by their time anyway.
 */
export const shareLinkProofs = pgTable(
  'share_link_proofs',
  {
    linkId: text('link_id')
      .notNull()
      .references(() => shareLinks.id, { onDelete: 'cascade' }),
    /** The proof's Ed25519 signature (deterministic, so one per purpose, link and time). */
    signature: text('signature').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [primaryKey({ columns: [t.linkId, t.signature] }), index('share_link_proofs_created_idx').on(t.createdAt)]
);

/** Durable jobs, claimed with FOR UPDATE SKIP LOCKED by any coordinator replica. */
export const jobs = pgTable(
  'jobs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    kind: text('kind').notNull(),
    /** Jobs with the same kind and key are the same job (idempotent enqueue). */
    key: text('key').notNull(),
    payload: jsonb('payload').notNull(),
    status: text('status', { enum: ['pending', 'running', 'done', 'failed'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull().default(50),
    runAfter: timestamp('run_after', { withTimezone: true }).notNull().defaultNow(),
    lockedBy: text('locked_by'),
    lockedUntil: timestamp('locked_until', { withTimezone: true }),
    lastError: text('last_error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [uniqueIndex('jobs_kind_key_idx').on(t.kind, t.key), index('jobs_due_idx').on(t.status, t.runAfter)]
);

/**
 * File health (issue #16): what the last check of each share found, per file and per relay. `state` is
 * from the relay's listing compared with the digest root recorded at commit; `scrubDamage` lists chunk
 * indexes the relay's own scrub (bit rot by digest) reported, which a listing cannot see (the relay lists
 * the digests it recorded at PUT). Rows of a relay that no longer holds the placement are ignored.
 */
export const shareHealth = pgTable(
  'share_health',
  {
    fileId: text('file_id')
      .notNull()
      .references(() => files.id, { onDelete: 'cascade' }),
    relayId: text('relay_id')
      .notNull()
      .references(() => relays.id, { onDelete: 'cascade' }),
    state: text('state', { enum: ['ok', 'missing', 'damaged', 'unreachable'] }).notNull(),
    detail: text('detail').notNull().default(''),
    scrubDamage: jsonb('scrub_damage').$type<number[]>(),
    /**
     * When the owner's browser found this share failing authentication after a repair (repair-verification.ts).
     * Like scrub damage it outlives listings (the relay lists the digests it recorded, which may still match);
     * only a completed repair or move clears it.
     */
    authFailedAt: timestamp('auth_failed_at', { withTimezone: true }),
    checkedAt: timestamp('checked_at', { withTimezone: true }).notNull()
  },
  (t) => [primaryKey({ columns: [t.fileId, t.relayId] }), index('share_health_relay_idx').on(t.relayId)]
);

/**
 * A share rebuilt or moved by repair awaits the owner's authentication (shared/docs/repair.md, "Verification
 * by the owner's browser"): the coordinator checks a repaired share by digest root only, because it never
 * holds the MAC key. One row per file and relay: `epoch` is the epoch the repair wrote; `state` is pending
 * until the owner's browser reports, then verified (with `verifiedAt`) or failed (the share is marked
 * damaged and repaired again, which makes it pending anew).
 */
export const shareVerifications = pgTable(
  'share_verifications',
  {
    fileId: text('file_id')
      .notNull()
      .references(() => files.id, { onDelete: 'cascade' }),
    relayId: text('relay_id')
      .notNull()
      .references(() => relays.id, { onDelete: 'cascade' }),
    epoch: integer('epoch').notNull(),
    state: text('state', { enum: ['pending', 'verified', 'failed'] }).notNull(),
    repairedAt: timestamp('repaired_at', { withTimezone: true }).notNull(),
    verifiedAt: timestamp('verified_at', { withTimezone: true })
  },
  // Read by file id (the primary key's first column): a page of files, or the owner's files joined to it.
  (t) => [primaryKey({ columns: [t.fileId, t.relayId] })]
);

/**
 * TOTP second factor (issue #19; RFC 6238). One row per user: `secret` is the shared secret sealed with
 * AES-256-GCM under the coordinator's secret key (secret-box.ts), never stored or logged in clear and never
 * returned after enrolment. `enabledAt` is null while enrolment awaits its first valid code.
 * `lastTimeStep` is the RFC 6238 time step of the last accepted code: a code of that step or an earlier
 * one is refused, so a code cannot be replayed within its window (RFC 6238 §5.2).
 */
export const totpCredentials = pgTable('totp_credentials', {
  userId: uuid('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  secret: text('secret').notNull(),
  enabledAt: timestamp('enabled_at', { withTimezone: true }),
  lastTimeStep: bigint('last_time_step', { mode: 'number' }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
});

/** One-time recovery codes: only a SHA-256 of each (80 random bits, salted with the user id) is kept; `usedAt` spends it. */
export const recoveryCodes = pgTable(
  'recovery_codes',
  {
    id: text('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    usedAt: timestamp('used_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [index('recovery_codes_user_idx').on(t.userId)]
);

/**
 * The half-signed-in state between a correct password and a correct second factor: server-side, keyed by
 * the SHA-256 of a random cookie value (the browser that typed the password holds it), short-lived, and
 * ended after a few wrong codes.
 */
export const secondFactorChallenges = pgTable(
  'second_factor_challenges',
  {
    id: text('id').primaryKey(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    failures: integer('failures').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull()
  },
  (t) => [index('second_factor_challenges_user_idx').on(t.userId)]
);

/** Instance settings an administrator changes at run time (key -> JSON value), e.g. the security policy. */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow()
});

/**
 * Federation (issue #21 part 2, shared/docs/federation.md). At the deployment that stores a remote group
 * (X): the links its administrators issued to other deployments (only the link token's SHA-256 is kept),
 * each bound to the linked deployment's web origin.
 */
export const federationLinks = pgTable('federation_links', {
  /** SHA-256 hex of the link token. */
  id: text('id').primaryKey(),
  /** Public handle to list and revoke by (unrelated to the secret). */
  handle: text('handle').notNull().unique(),
  name: text('name').notNull(),
  /** The linked deployment's web origin: CORS and user links are for it alone. */
  origin: text('origin').notNull(),
  createdBy: uuid('created_by').references(() => users.id, { onDelete: 'set null' }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  expiresAt: timestamp('expires_at', { withTimezone: true }),
  revokedAt: timestamp('revoked_at', { withTimezone: true }),
  lastUsedAt: timestamp('last_used_at', { withTimezone: true })
});

/**
 * At X: a user's browser key bound to the user's account at X by a sign-in at X (federation.ts). Only the
 * public key is stored; the private key is non-extractable in the user's browser.
 */
export const federationUserLinks = pgTable(
  'federation_user_links',
  {
    id: text('id').primaryKey(),
    linkId: text('link_id')
      .notNull()
      .references(() => federationLinks.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** ECDSA P-256 public key, SPKI DER in base64url. */
    publicKey: text('public_key').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true })
  },
  (t) => [uniqueIndex('federation_user_links_key_idx').on(t.linkId, t.publicKey), index('federation_user_links_user_idx').on(t.userId)]
);

/** At X: nonces of signed federated requests, kept until their time window has passed (replay refusal). */
export const federationNonces = pgTable(
  'federation_nonces',
  {
    userLinkId: text('user_link_id')
      .notNull()
      .references(() => federationUserLinks.id, { onDelete: 'cascade' }),
    nonce: text('nonce').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull()
  },
  (t) => [primaryKey({ columns: [t.userLinkId, t.nonce] }), index('federation_nonces_expiry_idx').on(t.expiresAt)]
);

/** At X: the sub-files created through a user link; a user link reaches these files and no others. */
export const federatedFiles = pgTable(
  'federated_files',
  {
    fileId: text('file_id')
      .primaryKey()
      .references(() => files.id, { onDelete: 'cascade' }),
    userLinkId: text('user_link_id')
      .notNull()
      .references(() => federationUserLinks.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [index('federated_files_user_link_idx').on(t.userLinkId)]
);

/**
 * At the home deployment (H): the deployments its administrators linked, with the link token (sealed under
 * the coordinator's secret key, secret-box.ts) and X's public info as last fetched (bounded, validated).
 */
export const federationRemotes = pgTable('federation_remotes', {
  id: text('id').primaryKey(),
  /** X's base URL (origin only). */
  url: text('url').notNull().unique(),
  name: text('name').notNull(),
  /** X's deployment id and signing-key fingerprint, as X announced them when linked; a change is refused. */
  deploymentId: text('deployment_id').notNull().unique(),
  fingerprint: text('fingerprint').notNull(),
  /** X's link handle for this deployment (the popup at X names the link by it). */
  linkHandle: text('link_handle').notNull(),
  linkToken: text('link_token').notNull(),
  /** X's relays as last fetched: [{ id, name, url, location, online }]. */
  relays: jsonb('relays').notNull(),
  status: text('status', { enum: ['ok', 'unreachable', 'revoked'] }).notNull(),
  lastError: text('last_error'),
  lastCheckedAt: timestamp('last_checked_at', { withTimezone: true }).notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
});

/**
 * At the home deployment (H), issue #21 part 2: sub-files at other deployments still to be removed there. A
 * removed file's remote groups land here when its delete-file job runs (however it was removed: directly,
 * by emptying the trash, by the trash's automatic purge). H cannot act at X itself (it holds no token of X's),
 * so the owner's browser, linked at X, removes each one there and then clears its row (a durable job that
 * waits for the person's next visit; X also keeps the sub-file until then, counted in X's usage).
 */
export const federationRemovals = pgTable(
  'federation_removals',
  {
    /** X's deployment id and the sub-file's id there. */
    deploymentId: text('deployment_id').notNull(),
    remoteFileId: text('remote_file_id').notNull(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** The removed file here (its row stays, status deleted). */
    fileId: text('file_id').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
  },
  (t) => [primaryKey({ columns: [t.deploymentId, t.remoteFileId] }), index('federation_removals_owner_idx').on(t.ownerId)]
);
