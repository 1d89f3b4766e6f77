import { body, route } from '$lib/server/http';
import { MAX_VERIFICATION_BODY, reportVerification } from '$lib/server/verification-api';

/** The owner's browser reports whether a repaired share authenticated (owner only; repair-verification.ts). */
export const POST = route('user', async ({ event, ctx }) => reportVerification(ctx, event.params.id, await body(event, MAX_VERIFICATION_BODY)));
