import type { PageServerLoad } from './$types';
import { coordinator } from '$lib/server/context';

/** No sign-in: the link's proof is made in the page. A signed-in visitor's CSRF token goes along. */
export const load: PageServerLoad = async ({ locals }) => {
  const { config } = await coordinator();
  return { csrfToken: locals.csrfToken ?? null, relayTimeouts: config.relayTimeouts };
};
