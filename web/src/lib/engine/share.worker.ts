/**
 * The share worker: splits chunks into share chunks (protect) and rebuilds and authenticates them
 * (retrieve), off the main thread. One call at a time per worker (the pool guarantees it); buffers move by
 * transfer, not copy. Errors leave as plain `{ name, code, message }` objects so their stable code survives
 * the worker boundary (structured clone drops Error subclasses' own fields in Comlink's serializer).
 */
import * as Comlink from 'comlink';
import { ShareDecoder, ShareEncoder, fileIdFromHex, hasErrorCode, type MetadataRecord } from '@kofn/shared';

let encoder: ShareEncoder | undefined;
let decoder: ShareDecoder | undefined;
let decodeExpect: { fileId: Uint8Array; epoch: number; k: number } | undefined;

async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw hasErrorCode(err) ? { name: 'KofnError', code: err.code, message: err.message } : { name: 'Error', code: 'INTERNAL', message: String((err as Error)?.message ?? err) };
  }
}

const transferAll = <T extends Uint8Array<ArrayBuffer>[]>(xs: T): T => Comlink.transfer(xs, xs.map((x) => x.buffer));

export interface EncoderInit {
  k: number;
  xs: number[];
  fileId: string;
  epoch: number;
  macKey: Uint8Array<ArrayBuffer>;
}

export type PublicMetadata = Omit<MetadataRecord, 'macKey'>;

const api = {
  initEncoder: (init: EncoderInit) =>
    guarded(async () => {
      encoder = await ShareEncoder.create({ k: init.k, xs: init.xs, fileId: fileIdFromHex(init.fileId), epoch: init.epoch }, init.macKey);
    }),
  encodeMetadata: (meta: MetadataRecord) => guarded(async () => transferAll(await encoder!.encodeMetadata(meta))),
  encodeData: (index: number, final: boolean, data: Uint8Array) => guarded(async () => transferAll(await encoder!.encodeData(index, final, data))),
  /** Rebuilds chunk 0 and keeps the file's key; every worker of a retrieval does this once. */
  initDecoder: (fileId: string, epoch: number, k: number, shares: Uint8Array[]) =>
    guarded(async () => {
      decoder = new ShareDecoder();
      decodeExpect = { fileId: fileIdFromHex(fileId), epoch, k };
      const d = await decoder.decodeMetadata(shares, decodeExpect);
      const { macKey, ...meta } = d.meta;
      macKey.fill(0);
      return { meta: meta as PublicMetadata, bad: d.bad };
    }),
  decodeData: (index: number, shares: Uint8Array[]) =>
    guarded(async () => {
      const d = await decoder!.decodeData(shares, { ...decodeExpect!, index });
      return Comlink.transfer({ data: d.data, flags: d.flags, bad: d.bad }, [d.data.buffer]);
    }),
  release: () =>
    guarded(async () => {
      encoder?.wipe();
      encoder = undefined;
      decoder = undefined;
    })
};

export type ShareWorkerApi = typeof api;
Comlink.expose(api);
