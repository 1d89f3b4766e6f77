import { redirect } from '@sveltejs/kit';
import type { PageServerLoad } from './$types';
import { coordinator } from '$lib/server/context';
import { countUsers } from '$lib/server/auth';

export const load: PageServerLoad = async () => {
  const { database } = await coordinator();
  if ((await countUsers(database.db)) > 0) redirect(303, '/login');
  return {};
};
