/**
 * The renewer's failures cross into the share workers through Comlink, which keeps only an Error's name
 * and message: they must leave as plain `{ code, message }`. A coordinator refusing fresh tokens (the file
 * removed, read access revoked, signed out) is ACCESS_ENDED, which retrieve.ts ends the transfer with
 * instead of blaming the relay that asked (issue #17 defect 2).
 */
import { describe, expect, it } from 'vitest';
import { ApiError } from '$lib/api';
import { renewer } from './tokens';

const failing = (err: unknown) =>
  renewer(
    'f'.repeat(32),
    'get',
    () => undefined,
    () => Promise.reject(err)
  );

async function thrown(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('renewer', () => {
  it('hands out the fresh token of the relay that asked, and tells the engine about all of them', async () => {
    let told: Map<string, string> | undefined;
    const renew = renewer(
      'f'.repeat(32),
      'get',
      (t) => (told = t),
      async () => [
        { relayId: 'r1', token: 't1' },
        { relayId: 'r2', token: 't2' }
      ]
    );
    expect(await renew('r2')).toBe('t2');
    expect([...told!]).toEqual([
      ['r1', 't1'],
      ['r2', 't2']
    ]);
  });

  it.each(['NOT_FOUND', 'UNAUTHORIZED', 'FORBIDDEN', 'LINK_INVALID', 'LINK_EXPIRED'])('a coordinator refusal (%s) becomes a plain ACCESS_ENDED', async (code) => {
    const err = await thrown(failing(new ApiError(code, 'File not found on the servers.', 404))('r1'));
    expect(err).not.toBeInstanceOf(Error);
    expect(err).toEqual({ code: 'ACCESS_ENDED', message: expect.stringContaining('You no longer have access to this file') });
  });

  it("a share link's other refusals (revoked mid-download) end the transfer in the coordinator's words", async () => {
    const err = await thrown(failing(new ApiError('LINK_REVOKED', 'The owner revoked this link.', 410))('r1'));
    expect(err).toEqual({ code: 'ACCESS_ENDED', message: 'The owner revoked this link. Nothing was saved.' });
  });

  it('other failures keep their code as a plain object; one without a code is COORDINATOR_UNREACHABLE', async () => {
    expect(await thrown(failing(new ApiError('RATE_LIMITED', 'Slow down.', 429))('r1'))).toEqual({ code: 'RATE_LIMITED', message: 'Slow down.' });
    expect(await thrown(failing(new TypeError('Failed to fetch'))('r1'))).toEqual({ code: 'COORDINATOR_UNREACHABLE', message: 'Failed to fetch' });
  });

  it('a relay the coordinator sent no token for is TOKEN_EXPIRED', async () => {
    const renew = renewer(
      'f'.repeat(32),
      'get',
      () => undefined,
      async () => [{ relayId: 'r1', token: 't1' }]
    );
    expect(await thrown(renew('r9'))).toEqual({ code: 'TOKEN_EXPIRED', message: 'Access to a storage server expired; try again.' });
  });
});
