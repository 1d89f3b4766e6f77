/**
 * connect-src per response (issue #13, item 12): the browser talks to this site and to the storage
 * relays, whose origins are only known at run time (relays register with the coordinator). The build's
 * policy says `connect-src 'self'`; hooks.server.ts adds the origins of the registered relays to every
 * page's policy, so an injected script cannot send data to any other origin. A relay registered after a
 * page loaded is reachable from it after a reload.
 */
import type { Db } from './db/index.js';
import { relays } from './db/schema.js';

/**
 * Serialised origins only: scheme http/https, a host name or IPv4 address, an optional port. IPv6 literals
 * are left out, as CSP's host-source grammar has no brackets (CSP3 §2.3.1); such a relay needs a name.
 */
const ORIGIN = /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/;

/** The distinct, valid origins of relay URLs, sorted. */
export function originsOf(urls: string[]): string[] {
  const out = new Set<string>();
  for (const url of urls) {
    try {
      const origin = new URL(url).origin;
      if (ORIGIN.test(origin)) out.add(origin);
    } catch {
      // A malformed relay URL gets no connect-src entry: the browser cannot reach it, which is safe.
      continue;
    }
  }
  return [...out].sort();
}

/** The policy with `sources` added to its connect-src (which the build always sets). */
export function withConnectSources(policy: string, sources: string[]): string {
  if (sources.length === 0) return policy;
  return policy
    .split(';')
    .map((d) => (/^\s*connect-src(\s|$)/.test(d) ? `${d.trimEnd()} ${sources.join(' ')}` : d))
    .join(';');
}

export async function relayOrigins(db: Db): Promise<string[]> {
  const rows = await db.select({ url: relays.url }).from(relays);
  return originsOf(rows.map((r) => r.url));
}
