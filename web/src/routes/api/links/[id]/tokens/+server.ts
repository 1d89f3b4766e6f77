import { body, route } from '$lib/server/http';
import { useLink } from '$lib/server/share-links';

/** No account: fresh read tokens for a download in progress (`{ at, signature }`, no download counted). */
export const POST = route('none', async ({ event, co }) => useLink({ db: co.database.db, key: co.signingKey, config: co.config }, event.params.id, await body(event), 'tokens'));
