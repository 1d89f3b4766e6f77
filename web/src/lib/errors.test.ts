/** Issue #17 defect 10: licence limits read in the units they were set in, not converted to binary units. */
import { describe, expect, it } from 'vitest';
import { formatBytes, formatLimit, handleError } from './errors';

describe('formatLimit', () => {
  it('keeps the decimal units licences are written in', () => {
    expect(formatLimit(1e12)).toBe('1 TB');
    expect(formatLimit(5e9)).toBe('5 GB');
    expect(formatLimit(2_000_000)).toBe('2 MB');
    expect(formatLimit(10e12)).toBe('10 TB');
  });
  it('keeps binary units when the limit was set in them', () => {
    expect(formatLimit(2 ** 30)).toBe('1 GiB');
    expect(formatLimit(3 * 2 ** 40)).toBe('3 TiB');
  });
  it('falls back to the usual binary figure for other numbers', () => {
    expect(formatLimit(1_234_567)).toBe(formatBytes(1_234_567));
    expect(formatLimit(0)).toBe('0 B');
  });
});

describe('handleError', () => {
  it('keeps a server message that names the relays behind RELAYS_OFFLINE (defect 8)', () => {
    const message = 'Some storage servers necessary for the operation are not connected: relay-3. All 3 chosen servers are needed and 2 are reachable.';
    expect(handleError({ code: 'RELAYS_OFFLINE', message })).toEqual({ code: 'RELAYS_OFFLINE', message });
  });
  it('tells "you are offline" from "the kofn server cannot be reached" (issue #16)', () => {
    const offline = handleError({ code: 'OFFLINE', message: 'You are offline.' })!.message;
    const down = handleError({ code: 'COORDINATOR_UNREACHABLE', message: 'The kofn server is not reachable.' })!.message;
    expect(offline).toMatch(/^You are offline: this device has no network connection\./);
    expect(down).toMatch(/^The kofn server cannot be reached right now/);
    expect(offline).not.toBe(down);
  });
  it('says the threshold rule in plain grammar (defect 7)', () => {
    expect(handleError({ code: 'THRESHOLD_TOO_LOW', message: 'anything' })?.message).toBe('The threshold must be at least 2.');
  });
});
