import { KofnError } from '@kofn/shared';
import type { RequestHandler } from './$types';
import { handle } from '$lib/server/http';

/**
 * The old join-secret announcement is gone (issue #13: one secret shared by every relay let any relay
 * impersonate another). A relay from before relay identity gets a clear answer telling its operator what
 * to do; its row, id and stored shares are kept until it is enrolled again.
 */
export const POST: RequestHandler = () =>
  handle(async () => {
    throw new KofnError(
      'ENROLLMENT_REQUIRED',
      'Storage servers now join with a one-time enrollment token: an administrator creates one on the Administration page; upgrade the relay and start it with KOFN_RELAY_ENROLLMENT_TOKEN.'
    );
  });
