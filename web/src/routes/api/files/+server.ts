import type { FileList } from '@kofn/shared';
import { body, route } from '$lib/server/http';
import { listFiles } from '$lib/server/files';
import { reserveFile } from '$lib/server/reservations';

export const GET = route('user', async ({ ctx }) => ({ files: await listFiles(ctx) }) satisfies FileList);

/** Reserve a new file: placement, x-coordinates and upload tokens. */
export const POST = route('user', async ({ event, ctx }) => reserveFile(ctx, await body(event)), 201);
