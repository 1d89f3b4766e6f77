import { route } from '$lib/server/http';
import { beginTotpSetup, totpStatus } from '$lib/server/second-factor';
import { secretKey } from '$lib/server/secret-key';

/** `{ enabled, recoveryCodesLeft }` of the signed-in user; never the secret. */
export const GET = route('user', async ({ co, user }) => totpStatus(co.database.db, user.id));

/** Starts enrolment: a new secret, returned this once (text, otpauth URI, QR code); not in force until enabled. */
export const POST = route('user', async ({ co, user }) => beginTotpSetup(co.database.db, await secretKey(), user));
