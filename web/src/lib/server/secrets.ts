/** Constant-time comparison of secrets (join secret): hash both sides so lengths do not leak either. */
import { createHash, timingSafeEqual } from 'node:crypto';

export function secretEquals(given: string, expected: string): boolean {
  if (expected.length === 0) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
