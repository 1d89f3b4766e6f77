import { route } from '$lib/server/http';
import { usage } from '$lib/server/files';

export const GET = route('user', async ({ co }) => usage(co.database.db, co.license));
