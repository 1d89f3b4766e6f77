import { route } from '$lib/server/http';
import { sharedByMe } from '$lib/server/grants';

export const GET = route('user', async ({ ctx }) => ({ files: await sharedByMe(ctx) }));
