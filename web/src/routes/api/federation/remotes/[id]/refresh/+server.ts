import { route } from '$lib/server/http';
import { refreshRemote } from '$lib/server/federation';
import { secretKey } from '$lib/server/secret-key';

/** Asks the linked deployment for its info again: state ok, unreachable or revoked, and its relays now. */
export const POST = route('admin', async ({ event, co }) => refreshRemote(co.database.db, await secretKey(), event.params.id));
