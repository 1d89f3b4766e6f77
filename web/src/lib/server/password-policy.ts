/**
 * Minimum strength for passwords people choose (issue #19): NIST SP 800-63B §5.1.1.2 asks for at least 8
 * characters and a check against "passwords obtained from previous breach corpuses" and "commonly-used
 * passwords", and advises against composition rules; kofn keeps its 10-character minimum (validate.ts)
 * and refuses the common passwords shipped in common-passwords.txt (compared lower-cased, spaces removed)
 * and passwords made of one repeated character or one run of a keyboard/alphabet sequence.
 *
 * common-passwords.txt holds every 10+ character entry of a public breach-frequency list (zxcvbn's, from
 * the Xato 10-million-password corpus, MIT; its header says where from) plus a few chosen by hand: about
 * 1,600 lines, 17 KB, read once at start. Shorter entries need no list: the length rule refuses them.
 */
import { KofnError } from '@kofn/shared';
// Vite inlines the text at build time (no file to find at run time, in the built server or in tests).
import commonList from './common-passwords.txt?raw';

/** The normal form both sides are compared in: case and spaces do not make a common password rare. */
const normal = (p: string): string => p.toLowerCase().replace(/\s+/g, '');

const COMMON: ReadonlySet<string> = new Set(
  commonList
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'))
);

/** How many passwords the shipped list holds (the Account page and tests say so). */
export const COMMON_PASSWORD_COUNT = COMMON.size;

const SEQUENCES = ['0123456789012345678901234567890', 'abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz', 'qwertyuiopasdfghjklzxcvbnm'];

export function isCommonPassword(password: string): boolean {
  const p = normal(password);
  if (COMMON.has(p)) return true;
  if (/^(.)\1*$/u.test(p)) return true;
  // By code point, as the sequences are (ASCII keyboard and alphabet runs): no grapheme clusters to keep.
  const rev = Array.from(p).reverse().join('');
  return SEQUENCES.some((s) => s.includes(p) || s.includes(rev));
}

/** A new password: 10..1024 characters and not a common one, with a message saying which rule failed. */
export function newPassword(v: unknown, field = 'password'): string {
  if (typeof v !== 'string' || v.length < 10 || v.length > 1024) {
    throw new KofnError('WEAK_PASSWORD', `The ${field} must have 10 to 1024 characters.`);
  }
  if (isCommonPassword(v))
    throw new KofnError(
      'WEAK_PASSWORD',
      `This ${field} is among the most common passwords, which attackers try first (kofn refuses ${COMMON_PASSWORD_COUNT} of them); choose another, for example a few unrelated words.`
    );
  return v;
}
