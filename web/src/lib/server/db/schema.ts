/**
 * The coordinator's schema: one definition for PostgreSQL and PGlite; migrations are generated from it
 * by drizzle-kit (`npm run db:generate -w web`) into `web/drizzle/`.
 */
import { bigint, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

export const relays = pgTable('relays', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  url: text('url').notNull(),
  location: text('location').notNull(),
  version: text('version').notNull(),
  storage: text('storage').notNull(),
  freeBytes: bigint('free_bytes', { mode: 'number' }).notNull(),
  usedBytes: bigint('used_bytes', { mode: 'number' }).notNull(),
  registeredAt: timestamp('registered_at', { withTimezone: true }).notNull().defaultNow(),
  lastHeartbeat: timestamp('last_heartbeat', { withTimezone: true }).notNull()
});

/** The coordinator's Ed25519 key pairs for capability tokens; the newest signs, all are published. */
export const signingKeys = pgTable('signing_keys', {
  kid: text('kid').primaryKey(),
  publicJwk: text('public_jwk').notNull(),
  privateJwk: text('private_jwk').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow()
});
