import { KOFN_VERSION } from '@kofn/shared';
import type { PageServerLoad } from './$types';
import { coordinator } from '$lib/server/context';

export const load: PageServerLoad = async () => {
  const { license } = await coordinator();
  return { version: KOFN_VERSION, tier: license.tier, licensed: license.licensed, licensee: license.licensee };
};
