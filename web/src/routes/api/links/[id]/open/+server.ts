import { body, route } from '$lib/server/http';
import { useLink } from '$lib/server/share-links';

/** No account: `{ at, signature }` signed with the link's key counts a download and answers the manifest. */
export const POST = route('none', async ({ event, co }) => useLink({ db: co.database.db, key: co.signingKey, config: co.config }, event.params.id, await body(event), 'open'));
