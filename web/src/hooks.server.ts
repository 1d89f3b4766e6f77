import type { Handle, ServerInit } from '@sveltejs/kit';
import { coordinator } from '$lib/server/context';

// Open the database and apply migrations before the first request is served.
export const init: ServerInit = async () => {
  const { database } = await coordinator();
  // adapter-node emits this after SIGINT/SIGTERM once requests have drained: flush PGlite to disk.
  process.once('sveltekit:shutdown', () => {
    void database.close();
  });
};

export const handle: Handle = async ({ event, resolve }) => {
  const response = await resolve(event);
  response.headers.set('X-Content-Type-Options', 'nosniff');
  response.headers.set('Referrer-Policy', 'no-referrer');
  response.headers.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  return response;
};
