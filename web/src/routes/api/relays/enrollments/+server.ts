import { body, route } from '$lib/server/http';
import { createEnrollment, listEnrollments } from '$lib/server/relays';

export const GET = route('admin', async ({ co }) => ({ enrollments: await listEnrollments(co.database.db) }));

/** An administrator makes a one-time enrollment token (shown once) for a new relay, or to re-key one. */
export const POST = route(
  'admin',
  async ({ event, co, user }) => {
    const b = await body(event);
    return createEnrollment(co.database.db, { label: b.label, relayId: b.relayId, createdBy: user.id });
  },
  201
);
