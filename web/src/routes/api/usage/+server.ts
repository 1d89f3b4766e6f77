import { route } from '$lib/server/http';
import type { Usage } from '@kofn/shared';
import { ownProtectedBytes, usage } from '$lib/server/usage';

/** The whole deployment against the licence, plus the signed-in user's own share of it (`ownBytes`). */
export const GET = route('user', async ({ co, user }) => ({ ...(await usage(co.database.db, co.license)), ownBytes: await ownProtectedBytes(co.database.db, user.id) }) satisfies Usage);
