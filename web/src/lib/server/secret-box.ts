/**
 * Secrets the coordinator must read back later (TOTP secrets, issue #19) are sealed with AES-256-GCM
 * (NIST SP 800-38D) under a coordinator key kept outside the database, so a database dump or backup
 * alone does not reveal them. The key is KOFN_SECRET_KEY (32 bytes, base64url) when set — required when
 * several coordinators share one PostgreSQL database — or else `<data dir>/secret.key`, made on first use
 * with mode 0600. Each sealed value is bound to its owner through the GCM additional data, so a row
 * copied to another user does not open.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from '@kofn/shared';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function decodeKey(raw: string, where: string): Uint8Array {
  const key = Buffer.from(raw.trim(), 'base64url');
  if (key.length !== 32) throw new Error(`${where} must hold 32 bytes in base64url (43 characters).`);
  return key;
}

/** The coordinator's secret key: KOFN_SECRET_KEY, or the key file in the data directory (made if absent). */
export function loadSecretKey(dataDir: string, env: NodeJS.ProcessEnv = process.env): Uint8Array {
  if (env.KOFN_SECRET_KEY) return decodeKey(env.KOFN_SECRET_KEY, 'KOFN_SECRET_KEY');
  const file = join(dataDir, 'secret.key');
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    // 'wx': two processes starting at once cannot both write a different key; the loser reads the winner's.
    try {
      writeFileSync(file, Buffer.from(randomBytes(32)).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    }
  }
  return decodeKey(readFileSync(file, 'utf8'), file);
}

/** `v1.<base64url(iv | ciphertext | tag)>`, bound to `owner`. */
export function seal(key: Uint8Array, plaintext: string, owner: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(owner, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${VERSION}.${Buffer.concat([iv, body]).toString('base64url')}`;
}

/** The plaintext of `seal`; a wrong key, owner or a changed byte is an error (never a wrong secret). */
export function open(key: Uint8Array, sealed: string, owner: string): string {
  const [version, data] = sealed.split('.');
  const bytes = Buffer.from(data ?? '', 'base64url');
  if (version !== VERSION || bytes.length < IV_BYTES + TAG_BYTES) throw new Error('A sealed secret is malformed.');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(owner, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new Error('A sealed secret does not open with this coordinator key (KOFN_SECRET_KEY or secret.key changed?).');
  }
}
