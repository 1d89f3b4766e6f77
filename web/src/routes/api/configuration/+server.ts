import { KOFN_VERSION } from '@kofn/shared';
import { route } from '$lib/server/http';

/** Qasmat's configuration endpoint: version and the licence's storage and file size limits. */
export const GET = route('none', async ({ co }) => ({
  version: KOFN_VERSION,
  storageLimit: co.license.limits.protectedBytes,
  maxFileSize: co.license.limits.maxFileSize,
  licensed: co.license.licensed,
  tier: co.license.tier
}));
