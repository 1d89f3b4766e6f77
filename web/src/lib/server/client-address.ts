/**
 * Who is on the other end of a request, in the two senses the coordinator needs (issue #13, item 7).
 *
 * - The client, for throttling sign-in: SvelteKit's `getClientAddress()`, which adapter-node reads from
 *   ADDRESS_HEADER (with XFF_DEPTH for X-Forwarded-For) when the operator sets them behind a reverse
 *   proxy. adapter-node throws when that header is missing (a request that did not come through the
 *   proxy); the TCP peer is then the client.
 * - The peer, for deciding whether a request comes from a trusted proxy (KOFN_TRUSTED_PROXIES): always
 *   the socket's address. With ADDRESS_HEADER set, `getClientAddress()` returns whatever the forwarded
 *   header says, so a client reaching the coordinator directly could name a proxy's address and then
 *   any user in Remote-Email.
 */
import type { RequestEvent } from '@sveltejs/kit';

/** The socket peer under adapter-node (`platform.req`); elsewhere (vite dev, preview) SvelteKit's answer. */
export function peerAddress(event: RequestEvent): string {
  return event.platform?.req?.socket.remoteAddress ?? event.getClientAddress();
}

export function clientAddress(event: RequestEvent): string {
  try {
    return event.getClientAddress();
  } catch {
    // adapter-node: ADDRESS_HEADER is set but absent from this request, so no proxy stands in between.
    return peerAddress(event);
  }
}
