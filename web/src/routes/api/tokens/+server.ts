import { body, route } from '$lib/server/http';
import { createApiToken, listApiTokens } from '$lib/server/api-tokens';

/** The signed-in user's personal API tokens (never their secrets). */
export const GET = route('user', async ({ co, user }) => ({ tokens: await listApiTokens(co.database.db, user.id) }));

/** Makes a token: `{ name, expiresInDays | null }`; the answer holds the secret, shown this once. */
export const POST = route('user', async ({ event, co, user }) => createApiToken(co.database.db, user, await body(event)), 201);
