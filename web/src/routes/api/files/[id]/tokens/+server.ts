import { body, route } from '$lib/server/http';
import { freshTokens } from '$lib/server/capabilities';
import { checkScope } from '$lib/server/token-scopes';

export const POST = route('user', async ({ event, ctx }) => {
  const { op, epoch } = await body(event);
  // The table asks `read` of this route (token-scopes.ts); upload, list and delete tokens are writes.
  // Any other op is refused as a wrong value by freshTokens.
  if (event.locals.viaApiToken && (op === 'put' || op === 'list' || op === 'delete')) checkScope(event.locals.tokenScopes, 'write');
  // `epoch`: the one a running download reads (capabilities.ts freshTokens, read-epoch.ts).
  return freshTokens(ctx, event.params.id, op, epoch);
});
