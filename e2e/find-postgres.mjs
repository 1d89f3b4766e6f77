/**
 * Finds the PostgreSQL that `npm test` (run-all.mjs) gives the coordinator suites: DATABASE_URL when set,
 * else the server CI's .ci/run sets up, if it answers. Nothing is started here.
 */

/** What CI's .ci/run sets up; tried when DATABASE_URL is unset. */
export const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/test';

/** The URL without its password, to print. */
export function shown(url) {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}

/**
 * DATABASE_URL for the coordinator suites, or why there is none. An explicit DATABASE_URL is used as it
 * is (if it does not answer, the suites fail: it was asked for). Otherwise the local one is tried with
 * one `select 1`, bounded to 5 s.
 */
export async function findPostgres(env, local = LOCAL_POSTGRES) {
  if (env.DATABASE_URL) return { url: env.DATABASE_URL, how: 'DATABASE_URL' };
  let sql;
  let timer;
  try {
    const { default: postgres } = await import('postgres');
    sql = postgres(local, { max: 1, connect_timeout: 5, idle_timeout: 1, onnotice: () => undefined });
    const late = new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error('no answer in 5 s')), 5_000);
    });
    await Promise.race([sql`select 1`, late]);
    return { url: local, how: 'found by probe' };
  } catch (err) {
    return { url: undefined, how: `none: DATABASE_URL unset and ${shown(local)} answered ${err?.code ?? err?.message ?? err}` };
  } finally {
    clearTimeout(timer);
    await sql?.end({ timeout: 1 }).catch(() => undefined);
  }
}
