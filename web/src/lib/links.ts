/**
 * Share links in the browser (issue #19): making one (owner), and opening one (recipient, no account).
 * The secret is made here and leaves the browser only inside the URL fragment, which browsers never send
 * to a server; the coordinator gets the public key derived from it (shared/src/link-proof.ts) and, when
 * the link is opened, signatures made with the private key.
 */
import { base64url, fromBase64url, linkKey, newLinkSecret, signLinkProof, LINK_SECRET_BYTES, type LinkKey, type LinkProofPurpose } from '@kofn/shared';
import type { FreshTokens, LinkView } from '@kofn/shared';
import { api } from '$lib/api';
import type { Manifest, ManifestSource } from '$lib/engine/retrieve';

export type { LinkView } from '@kofn/shared';

/** `#<secret>`, or `#p.<secret>` when the link also needs a password (so the page knows to ask). */
export function linkUrl(origin: string, id: string, secret: Uint8Array, password: boolean): string {
  return `${origin}/s/${id}#${password ? 'p.' : ''}${base64url(secret)}`;
}

export function parseFragment(hash: string): { secret: Uint8Array; password: boolean } | undefined {
  const m = /^#(p\.)?([A-Za-z0-9_-]{43})$/.exec(hash);
  if (!m) return undefined;
  const secret = fromBase64url(m[2]!);
  return secret.length === LINK_SECRET_BYTES ? { secret, password: m[1] !== undefined } : undefined;
}

export async function createShareLink(fileId: string, opts: { expiresAt: Date; maxDownloads: number | null; password: string }): Promise<{ link: LinkView; url: string }> {
  const secret = newLinkSecret();
  const key = await linkKey(secret, opts.password || undefined);
  const link = await api<LinkView>('POST', '/api/links', {
    fileId,
    publicKey: key.publicKey,
    passwordProtected: opts.password !== '',
    expiresAt: opts.expiresAt.toISOString(),
    maxDownloads: opts.maxDownloads
  });
  return { link, url: linkUrl(location.origin, link.id, secret, opts.password !== '') };
}

/** The coordinator's clock minus ours, from its Date header (second resolution; proofs allow minutes). */
async function clockOffset(): Promise<number> {
  const res = await fetch('/api/health', { cache: 'no-store' });
  const date = Date.parse(res.headers.get('date') ?? '');
  return Number.isFinite(date) ? date - Date.now() : 0;
}

/**
 * Manifest and token renewal for a link, each request signed with its key at a time that always grows
 * (the coordinator refuses a time not newer than the last one it accepted: replay).
 */
export async function linkSource(id: string, key: LinkKey): Promise<ManifestSource> {
  const offset = await clockOffset();
  let last = 0;
  const post = async <T>(purpose: LinkProofPurpose, extra: Record<string, unknown> = {}): Promise<T> => {
    last = Math.max(last + 1, Date.now() + offset);
    return api<T>('POST', `/api/links/${id}/${purpose}`, { ...(await signLinkProof(key, purpose, id, last)), ...extra });
  };
  // Renewed tokens name the epoch the retrieval reads (the manifest's, or a newer one it moved on to, #15).
  return {
    manifest: () => post<Manifest>('open'),
    tokens: async (at) => (await post<FreshTokens>('tokens', { epoch: at })).tokens,
    // The epoch read was dropped after a renewal (#15): the current manifest, no download counted.
    current: () => post<Manifest>('tokens', { manifest: true })
  };
}

export { linkKey };
