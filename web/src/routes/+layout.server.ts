import type { LayoutServerLoad } from './$types';

/** Every page's header shows who is signed in and offers sign-out (issue #17: today admin/docs/about have none). */
export const load: LayoutServerLoad = ({ locals }) => ({
  account: locals.user ? { displayName: locals.user.displayName, email: locals.user.email, role: locals.user.role } : null,
  accountCsrfToken: locals.csrfToken ?? null
});
