/**
 * Whether passkeys can work on this host name: WebAuthn's relying party ID must be a valid domain
 * (WebAuthn §5.1.3, §5.1.4), and browsers refuse IP addresses (IPv4, or IPv6 in brackets) outright.
 */
export function passkeyHost(hostname: string): boolean {
  if (hostname.startsWith('[') || hostname.includes(':')) return false;
  return !/^\d{1,3}(\.\d{1,3}){3}$/.test(hostname) && hostname.length > 0;
}
