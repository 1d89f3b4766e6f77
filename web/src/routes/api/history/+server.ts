import { route } from '$lib/server/http';
import { listHistory } from '$lib/server/history';

export const GET = route('user', async ({ ctx, user }) => ({ history: await listHistory(ctx.db, user.id) }));
