import { body, route } from '$lib/server/http';
import { MAX_BATCH_BODY } from '$lib/server/batch';
import { bulkAction } from '$lib/server/bulk-actions';
import { checkScope } from '$lib/server/token-scopes';

/** Move, trash, share or stop sharing up to 1,000 files (and folders) at once: `{ action, files?, folders?, to?, emails? }`, one result each. */
export const POST = route('user', async ({ event, ctx }) => {
  const input = await body(event, MAX_BATCH_BODY);
  // The table asks `write` of this route (token-scopes.ts); giving or ending access is the `share` scope's,
  // as on /api/grants and /api/links, so an API token also needs it for these two actions.
  if (event.locals.viaApiToken && (input.action === 'share' || input.action === 'revoke')) checkScope(event.locals.tokenScopes, 'share');
  return bulkAction(ctx, input);
});
