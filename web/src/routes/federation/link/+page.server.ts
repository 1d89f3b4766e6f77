import type { PageServerLoad } from './$types';
import { FEDERATION_PUBLIC_KEY, hasErrorCode } from '@kofn/shared';
import { coordinator } from '$lib/server/context';
import { linkPreview } from '$lib/server/federation';

/**
 * The approval page another deployment's browser opens in a popup (federation-client.ts linkAccount): it
 * shows which deployment asks and the browser key's beginning; the user signs in here, at this site,
 * and approves. The answer is posted to the link's own origin only.
 */
export const load: PageServerLoad = async ({ locals, url }) => {
  const key = url.searchParams.get('key') ?? '';
  const origin = url.searchParams.get('origin') ?? '';
  let link: { handle: string; name: string; origin: string } | null = null;
  let problem: string | null = null;
  try {
    link = await linkPreview((await coordinator()).database.db, url.searchParams.get('link'));
    if (origin !== link.origin) problem = 'This request does not come from the deployment this link was made for.';
    else if (!FEDERATION_PUBLIC_KEY.test(key)) problem = 'This request carries no valid browser key.';
  } catch (err) {
    problem = hasErrorCode(err) && err.code !== 'NOT_FOUND' ? err.message : 'This federation link does not exist.';
  }
  return { signedIn: locals.user ? { email: locals.user.email } : null, csrfToken: locals.csrfToken ?? null, link, key, problem, next: url.pathname + url.search };
};
