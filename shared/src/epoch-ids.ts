/**
 * Where a relay keeps renewed epochs and dealers' contributions (#15, shared/docs/renewal.md, "Storage
 * layout"): under ids derived from the file id, so both storage backends and the offline recovery tool
 * need nothing new. Node only (node:crypto); exported through `@kofn/shared/recover`.
 *
 *   E(F, e)    = hex(SHA-256("kofn/epoch\0"   || F || be32(e))[0..16])      e >= 1 (epoch 0 is F itself)
 *   C(F, e, d) = hex(SHA-256("kofn/contrib\0" || F || be32(e) || byte(d))[0..16])
 *   P(F, e, d) = hex(SHA-256("kofn/pads\0"    || F || be32(e) || byte(d))[0..16])
 */
import { createHash } from 'node:crypto';
import { fileIdFromHex } from './ids.js';

function derive(label: string, fileId: string, epoch: number, dealer?: number): string {
  const h = createHash('sha256').update(`${label}\0`).update(fileIdFromHex(fileId));
  const e = Buffer.alloc(4);
  e.writeUInt32BE(epoch);
  h.update(e);
  if (dealer !== undefined) h.update(Buffer.of(dealer));
  return h.digest('hex').slice(0, 32);
}

/** Where epoch `epoch` of a file is stored: the file id itself for 0 (as uploaded), a derived id after. */
export function epochStorageId(fileId: string, epoch: number): string {
  return epoch === 0 ? fileId : derive('kofn/epoch', fileId, epoch);
}

/** Where dealer `dealer`'s contribution to epoch `epoch` of a file is stored until prepare consumes it. */
export function contributionStorageId(fileId: string, epoch: number, dealer: number): string {
  return derive('kofn/contrib', fileId, epoch, dealer);
}

/**
 * Where the check pads dealer `dealer` sent for epoch `epoch` of a file are kept until the check consumes them
 * (renewal.md, "Check pads"): on the relay's disk or bucket, not in memory, so a relay restarted mid-deal or
 * mid-prepare still holds them and the renewal resumes instead of starting over.
 */
export function padsStorageId(fileId: string, epoch: number, dealer: number): string {
  return derive('kofn/pads', fileId, epoch, dealer);
}
