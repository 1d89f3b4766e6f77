import { redirect } from '@sveltejs/kit';
import { KOFN_VERSION } from '@kofn/shared';
import type { PageServerLoad } from './$types';
import { coordinator } from '$lib/server/context';
import { countUsers } from '$lib/server/auth';
import { listRelays } from '$lib/server/relays';
import { previewLimit } from '$lib/server/preview-limit';
import { offeredAccounts, TOUR_COOKIE } from '$lib/tour-cookie';

export const load: PageServerLoad = async ({ locals, cookies }) => {
  const { config, database, license } = await coordinator();
  if (!locals.user) redirect(303, (await countUsers(database.db)) === 0 ? '/setup' : '/login');
  if (locals.user.mustChangePassword) redirect(303, '/account');
  const relays = await listRelays(database.db, new Date(), config.relayOfflineAfterMs);
  return {
    user: locals.user,
    csrfToken: locals.csrfToken ?? null,
    // Only relays in service are offered for new uploads (relay-lifecycle.ts: draining, lost and retired are not).
    relays: relays.filter((r) => r.lifecycle === 'active').map((r) => ({ id: r.id, name: r.name, host: r.url, location: r.location, status: r.status, group: r.group })),
    limits: { maxFileSize: license.limits.maxFileSize, storageLimit: license.limits.protectedBytes },
    relayTimeouts: config.relayTimeouts,
    previewLimit: (await previewLimit(database.db)).previewLimit,
    version: KOFN_VERSION,
    // Raw value (tour-cookie.ts decodes it): whether the help tour was offered to this account in this browser.
    tourOffered: offeredAccounts(cookies.get(TOUR_COOKIE, { decode: (v) => v })).includes(locals.user.email)
  };
};
