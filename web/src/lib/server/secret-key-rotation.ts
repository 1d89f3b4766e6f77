/**
 * Rotating the coordinator's secret key (secret-box.ts, issue #19): the operator starts the coordinator
 * with the new key in force (KOFN_SECRET_KEY, or a new `<data dir>/secret.key`) and the previous one in
 * KOFN_SECRET_KEY_OLD. Before serving, every TOTP secret still sealed under the old key is opened and
 * sealed again under the new one, all in one transaction: either every row moves or none does (a wrong
 * old key, or a row that opens under neither key, stops the start and changes nothing). Rows already
 * under the new key are left alone, so a second start with the same variables (or several coordinators
 * on one PostgreSQL starting at once: the rows are locked FOR UPDATE) does nothing more. Once it has run,
 * KOFN_SECRET_KEY_OLD can be removed and the old key destroyed.
 */
import { eq } from 'drizzle-orm';
import { KofnError } from '@kofn/shared';
import type { Db } from './db/index.js';
import { federationRemotes, totpCredentials } from './db/schema.js';
import { decodeKey, loadSecretKey, open, seal } from './secret-box.js';

export interface RotationResult {
  /** Rows sealed again under the new key. */
  resealed: number;
  /** Rows that were already under the new key. */
  alreadyNew: number;
}

function opens(key: Uint8Array, sealed: string, owner: string): string | undefined {
  try {
    return open(key, sealed, owner);
  } catch {
    return undefined;
  }
}

/** Re-seals every TOTP secret and federation link token from `oldKey` to `newKey` in one transaction (see the module comment). */
export async function rotateSecretKey(db: Db, oldKey: Uint8Array, newKey: Uint8Array): Promise<RotationResult> {
  if (Buffer.from(oldKey).equals(Buffer.from(newKey))) {
    throw new KofnError('WRONG_VALUE', 'KOFN_SECRET_KEY_OLD is the key in force: nothing to rotate (set the new key in KOFN_SECRET_KEY or secret.key).');
  }
  return db.transaction(async (tx) => {
    const rows = await tx.select({ userId: totpCredentials.userId, secret: totpCredentials.secret }).from(totpCredentials).for('update');
    const result: RotationResult = { resealed: 0, alreadyNew: 0 };
    for (const row of rows) {
      if (opens(newKey, row.secret, row.userId) !== undefined) {
        result.alreadyNew++;
        continue;
      }
      const plain = opens(oldKey, row.secret, row.userId);
      // Throwing rolls the whole transaction back: no row is left under a key the operator did not mean.
      if (plain === undefined) throw new KofnError('SECRET_KEY_MISMATCH', 'A TOTP secret opens with neither KOFN_SECRET_KEY_OLD nor the new key: nothing was changed. Check the old key.');
      await tx
        .update(totpCredentials)
        .set({ secret: seal(newKey, plain, row.userId) })
        .where(eq(totpCredentials.userId, row.userId));
      result.resealed++;
    }
    // Federation link tokens of linked deployments (federation.ts), sealed for their row the same way.
    const remotes = await tx.select({ id: federationRemotes.id, token: federationRemotes.linkToken }).from(federationRemotes).for('update');
    for (const row of remotes) {
      const owner = `federation-remote:${row.id}`;
      if (opens(newKey, row.token, owner) !== undefined) {
        result.alreadyNew++;
        continue;
      }
      const plain = opens(oldKey, row.token, owner);
      if (plain === undefined) throw new KofnError('SECRET_KEY_MISMATCH', 'A federation link token opens with neither KOFN_SECRET_KEY_OLD nor the new key: nothing was changed. Check the old key.');
      await tx
        .update(federationRemotes)
        .set({ linkToken: seal(newKey, plain, owner) })
        .where(eq(federationRemotes.id, row.id));
      result.resealed++;
    }
    return result;
  });
}

/** At coordinator start: rotates when KOFN_SECRET_KEY_OLD is set (see the module comment); else nothing. */
export async function rotateFromEnvironment(db: Db, dataDir: string, env: NodeJS.ProcessEnv = process.env): Promise<RotationResult | undefined> {
  if (!env.KOFN_SECRET_KEY_OLD) return undefined;
  return rotateSecretKey(db, decodeKey(env.KOFN_SECRET_KEY_OLD, 'KOFN_SECRET_KEY_OLD'), loadSecretKey(dataDir, env));
}
