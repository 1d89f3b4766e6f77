/**
 * The coordinator talking to relays itself (never with shares): listing a file's stored chunks to
 * verify a commit, and deleting a file's shares. It mints its own short capability tokens.
 */
import { KofnError } from '@kofn/shared';
import { mintCapability, type SigningKey } from './signing-keys.js';

export interface RelayRef {
  id: string;
  url: string;
  name: string;
}

const TIMEOUT_MS = 10_000;

async function call(relay: RelayRef, path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(`${relay.url}${path}`, { ...init, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch {
    throw new KofnError('RELAYS_OFFLINE', `Some storage servers necessary for the operation are not connected. (${relay.name})`);
  }
}

export async function listChunks(key: SigningKey, relay: RelayRef, fileId: string): Promise<Array<{ index: number; size: number; digest: string }>> {
  const token = await mintCapability(key, { relayId: relay.id, userId: 'coordinator', fid: fileId, op: 'list', chunks: [0, 0], ttl: 60 });
  const res = await call(relay, `/v1/files/${fileId}/chunks`, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw new KofnError('RELAYS_OFFLINE', `Storage server ${relay.name} answered ${res.status}.`);
  const body = (await res.json()) as { chunks: Array<{ index: number; size: number; digest: string }> };
  return body.chunks;
}

export async function deleteFileOn(key: SigningKey, relay: RelayRef, fileId: string): Promise<number> {
  const token = await mintCapability(key, { relayId: relay.id, userId: 'coordinator', fid: fileId, op: 'delete_file', chunks: [0, 0], ttl: 60 });
  const res = await call(relay, `/v1/files/${fileId}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) throw new KofnError('RELAYS_OFFLINE', `Storage server ${relay.name} answered ${res.status}.`);
  return ((await res.json()) as { deleted: number }).deleted;
}
