import { json } from '@sveltejs/kit';
import { MAX_SCRUB_REPORT_BYTES, RELAY_SIGNATURE_HEADER } from '@kofn/shared';
import type { RequestHandler } from './$types';
import { coordinator } from '$lib/server/context';
import { handle, readBytes } from '$lib/server/http';
import { acceptScrubReport } from '$lib/server/health';

/** An enrolled relay's signed scrub report: chunks whose bytes no longer match their digest (issue #16). */
export const POST: RequestHandler = ({ request }) =>
  handle(async () => {
    const { database } = await coordinator();
    const body = await readBytes(request, MAX_SCRUB_REPORT_BYTES);
    return json({ ok: true, ...(await acceptScrubReport(database.db, body, request.headers.get(RELAY_SIGNATURE_HEADER))) });
  });
