import { route } from '$lib/server/http';
import { pendingVerifications } from '$lib/server/verification-api';

/** The signed-in owner's files with repaired shares their browser is to authenticate (repair-verification.ts). */
export const GET = route('user', async ({ ctx }) => pendingVerifications(ctx));
