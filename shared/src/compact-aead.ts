/**
 * The AES-256-GCM framing of compact data chunks (docs/compact-mode.md), shared by the encoder
 * (compact.ts) and the decoder (codec.ts). WebCrypto only, so Node and browsers run one implementation.
 *
 *   IV  = chunk index (u32 BE) | flags (u8) | 7 zero bytes
 *   AAD = "KOFN-ENC" | file id (16) | chunk index (u32 BE) | flags (u8) | 3 zero bytes
 */

/** AES-256-GCM's tag, appended to every compact chunk's ciphertext. */
export const GCM_TAG_BYTES = 16;
/** Additional data of a compact data chunk: "KOFN-ENC" | file id (16) | index u32 | flags u8 | 3 zero bytes. */
export const ENC_AAD_BYTES = 32;
const ENC_DOMAIN = [0x4b, 0x4f, 0x46, 0x4e, 0x2d, 0x45, 0x4e, 0x43]; // "KOFN-ENC"

function subtle(): SubtleCrypto {
  return globalThis.crypto.subtle;
}

/** Encrypts one data chunk: ciphertext || 16-byte tag. */
export async function encryptChunk(key: CryptoKey, fileId: Uint8Array, index: number, flags: number, plain: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await subtle().encrypt({ name: 'AES-GCM', iv: chunkIv(index, flags), additionalData: encAad(fileId, index, flags), tagLength: 128 }, key, plain));
}

/**
 * Decrypts and authenticates one data chunk; null when the tag does not match (WebCrypto's OperationError).
 * Any other failure is not an authentication result and is thrown.
 */
export async function decryptChunk(key: CryptoKey, fileId: Uint8Array, index: number, flags: number, sealed: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer> | null> {
  try {
    return new Uint8Array(await subtle().decrypt({ name: 'AES-GCM', iv: chunkIv(index, flags), additionalData: encAad(fileId, index, flags), tagLength: 128 }, key, sealed));
  } catch (err) {
    if ((err as { name?: unknown } | null)?.name === 'OperationError') return null;
    throw err;
  }
}

/** The 12-byte IV of chunk `index` with `flags`: unique per chunk of a file, and the key is per file. */
export function chunkIv(index: number, flags: number): Uint8Array<ArrayBuffer> {
  const iv = new Uint8Array(12);
  new DataView(iv.buffer).setUint32(0, index);
  iv[4] = flags;
  return iv;
}

/** The additional authenticated data of a compact data chunk: binds the file, the index and FINAL. */
export function encAad(fileId: Uint8Array, index: number, flags: number): Uint8Array<ArrayBuffer> {
  const aad = new Uint8Array(ENC_AAD_BYTES);
  aad.set(ENC_DOMAIN, 0);
  aad.set(fileId, 8);
  new DataView(aad.buffer).setUint32(24, index);
  aad[28] = flags;
  return aad;
}

export function importFileKey(raw: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  return subtle().importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}
