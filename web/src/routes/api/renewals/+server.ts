import { route } from '$lib/server/http';
import { renewAll } from '$lib/server/renewal';

/** "Renew all files now", administrators only (#15). */
export const POST = route('admin', async ({ co }) => renewAll(co.database.db));
