import type { FileList } from '@kofn/shared';
import { route } from '$lib/server/http';
import { sharedWithMe } from '$lib/server/files';

export const GET = route('user', async ({ ctx }) => ({ files: await sharedWithMe(ctx) }) satisfies FileList);
