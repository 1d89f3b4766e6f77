/**
 * Coordinator settings from the environment (the launcher and Docker set them; see README).
 */
import { resolve } from 'node:path';

export interface CoordinatorConfig {
  databaseUrl: string | undefined;
  dataDir: string;
  migrationsFolder: string;
  /** Shared secret relays present to announce themselves; empty refuses every announcement. */
  joinSecret: string;
  /** A relay with no heartbeat for this long is shown offline. */
  relayOfflineAfterMs: number;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): CoordinatorConfig {
  const dataDir = resolve(env.KOFN_DATA_DIR ?? '.kofn');
  const offline = Number(env.KOFN_RELAY_OFFLINE_AFTER ?? 30);
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir,
    migrationsFolder: resolve(env.KOFN_MIGRATIONS_DIR ?? 'drizzle'),
    joinSecret: env.KOFN_JOIN_SECRET ?? '',
    relayOfflineAfterMs: (Number.isFinite(offline) && offline > 0 ? offline : 30) * 1000
  };
}
