/** A real S3-compatible server (s3rver) on loopback for the storage suite. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { S3Store, type S3StoreOptions } from '../storage/s3.js';

/**
 * What a PUT carrying `If-None-Match: *` meets. s3rver ignores the header (`'ignore'`, the default: a store
 * without conditional writes). `'aws'` adds AWS S3's documented behaviour in front of s3rver's own handler:
 * one conditional write per key at a time, refused with 412 PreconditionFailed when an object (whole or
 * not) is at the key once its turn comes. `'refuse'` answers 501 NotImplemented, as a store that rejects
 * the header; `'conflict'` answers 409 ConditionalRequestConflict every time, as a key whose conflicting
 * write never settles.
 */
export type ConditionalWrites = 'ignore' | 'aws' | 'refuse' | 'conflict';

/** The S3 operations the relay sends, as `fault` and `hold` name them. */
export type S3Method = 'GET' | 'HEAD' | 'PUT' | 'DELETE';

/** One request s3rver received, in order: method, object key ('' for the bucket itself), query string, Content-Type. */
export interface S3Request {
  method: string;
  key: string;
  query: string;
  contentType: string | undefined;
}

export interface LocalS3 {
  endpoint: string;
  bucket: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Where s3rver keeps object bytes (to simulate bit rot underneath it). */
  objectPath: (key: string) => string;
  /**
   * The next `n` PUTs of chunk objects wait until all `n` have reached the server: writers that each
   * looked (HEAD) and found nothing then all PUT, the race a shared bucket allows. Resolves when they met.
   */
  holdPuts: (n: number) => Promise<void>;
  /**
   * The next `n` requests of `method` to chunk objects wait until all `n` have arrived: operations on
   * different chunks then prove they do not wait for each other (they would never all arrive if they did).
   */
  hold: (n: number, method: S3Method) => Promise<void>;
  /** PUTs that carried `If-None-Match: *`, and how many of those were refused (412, 409 or 501). */
  conditional: { sent: number; refused: number };
  /** Every request to the bucket, in arrival order (tests clear it with `requests.length = 0`). */
  requests: S3Request[];
  /**
   * From now on, answer every `method` request to a chunk object with this S3 error instead of s3rver
   * (an S3 failing on its side, or refusing the relay's credentials); `undefined` stops it.
   */
  fault: (f: { method: S3Method; status: number; code: string } | undefined) => void;
  stop: () => Promise<void>;
}

interface KoaContext {
  method: string;
  path: string;
  querystring: string;
  query: Record<string, string | string[] | undefined>;
  headers: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  type: string;
}
type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

function s3Error(ctx: KoaContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

/**
 * `listPageSize` makes every object listing answer at most that many keys per page (see `paged`), so a
 * listing continues with a continuation token as AWS S3's does past 1000 keys: paging is tested on a
 * handful of keys rather than thousands.
 */
/**
 * Answers a ListObjectsV2 request with at most `size` keys and a continuation token when more follow.
 * s3rver cannot page itself: its continuation tokens are DES-encrypted, which OpenSSL 3 no longer offers,
 * so any truncated listing (max-keys, or over 1000 keys) fails with 500 InternalError. Here the token is
 * the last key given (base64url; tokens are opaque to clients), s3rver lists the rest with `start-after`,
 * and its XML answer is cut to the page.
 */
async function paged(ctx: KoaContext, next: () => Promise<void>, size: number): Promise<void> {
  const query = { ...ctx.query };
  const token = query['continuation-token'];
  delete query['continuation-token'];
  delete query['max-keys'];
  if (typeof token === 'string') query['start-after'] = Buffer.from(token, 'base64url').toString('utf8');
  ctx.query = query;
  await next();
  if (ctx.status !== 200 || typeof ctx.body !== 'string') return;
  const body = ctx.body;
  const entries = body.match(/<Contents>[\s\S]*?<\/Contents>/g) ?? [];
  if (entries.length <= size) return;
  const kept = entries.slice(0, size);
  // Keys here are chunk keys (hex and digits): nothing XML-escaped to undo.
  const last = /<Key>([^<]*)<\/Key>/.exec(kept[kept.length - 1]!)?.[1] ?? '';
  const start = body.indexOf(entries[0]!);
  const end = body.lastIndexOf(entries[entries.length - 1]!) + entries[entries.length - 1]!.length;
  ctx.body = (body.slice(0, start) + kept.join('') + body.slice(end))
    .replace('<IsTruncated>false</IsTruncated>', `<IsTruncated>true</IsTruncated><NextContinuationToken>${Buffer.from(last).toString('base64url')}</NextContinuationToken>`)
    .replace(/<KeyCount>\d+<\/KeyCount>/, `<KeyCount>${size}</KeyCount>`);
}

export interface StartS3Options {
  conditionalWrites?: ConditionalWrites;
  listPageSize?: number;
}

export async function startS3(opts: StartS3Options = {}): Promise<LocalS3> {
  const mode = opts.conditionalWrites ?? 'ignore';
  const directory = mkdtempSync(join(tmpdir(), 'kofn-s3rver-'));
  const bucket = 'kofn-test';
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const objectPath = (key: string): string => {
    const parts = key.split('/');
    const last = parts.pop()!;
    return join(directory, bucket, ...parts, `${last}._S3rver_object`);
  };
  const conditional = { sent: 0, refused: 0 };
  let held: { n: number; method: string; waiting: Array<() => void>; met: () => void } | undefined;
  let fault: { method: S3Method; status: number; code: string } | undefined;
  const requests: S3Request[] = [];
  /** One conditional write per key at a time: the tail of each key's queue. */
  const queues = new Map<string, Promise<void>>();
  const prefix = `/${bucket}/`;
  const middleware: Middleware = async (ctx, next) => {
    const key = ctx.path.startsWith(prefix) ? decodeURIComponent(ctx.path.slice(prefix.length)) : '';
    if (ctx.path === `/${bucket}` || ctx.path.startsWith(prefix)) {
      const type = ctx.headers['content-type'];
      requests.push({ method: ctx.method, key, query: ctx.querystring, contentType: Array.isArray(type) ? type.join(', ') : type });
    }
    if (opts.listPageSize !== undefined && ctx.method === 'GET' && key === '' && ctx.query['list-type'] === '2') {
      return paged(ctx, next, opts.listPageSize);
    }
    if (!key.startsWith('chunks/')) return next();
    if (fault?.method === ctx.method) {
      s3Error(ctx, fault.status, fault.code, 'Injected by the test server.');
      return;
    }
    if (held?.method === ctx.method) {
      const h = held;
      await new Promise<void>((res) => {
        h.waiting.push(res);
        if (h.waiting.length === h.n) {
          held = undefined;
          for (const go of h.waiting) go();
          h.met();
        }
      });
    }
    if (ctx.method !== 'PUT') return next();
    if (ctx.headers['if-none-match'] !== '*' || mode === 'ignore') {
      if (ctx.headers['if-none-match'] === '*') conditional.sent++;
      return next();
    }
    conditional.sent++;
    if (mode === 'refuse') {
      conditional.refused++;
      s3Error(ctx, 501, 'NotImplemented', 'A header you provided implies functionality that is not implemented.');
      return;
    }
    if (mode === 'conflict') {
      conditional.refused++;
      s3Error(ctx, 409, 'ConditionalRequestConflict', 'A conflicting operation occurred. If using PutObject you can retry the request.');
      return;
    }
    const before = queues.get(key) ?? Promise.resolve();
    let release = (): void => undefined;
    const mine = new Promise<void>((res) => (release = res));
    const tail = before.then(() => mine);
    queues.set(key, tail);
    await before;
    try {
      if (existsSync(objectPath(key))) {
        conditional.refused++;
        s3Error(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
        return;
      }
      await next();
    } finally {
      release();
      if (queues.get(key) === tail) queues.delete(key);
    }
  };
  // Koa composes its middleware when it starts listening (run): first in the list runs first.
  (server as unknown as { middleware: Middleware[] }).middleware.unshift(middleware);
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: 'us-east-1',
    // s3rver's fixed development credentials.
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    objectPath,
    holdPuts: (n) =>
      new Promise<void>((met) => {
        held = { n, method: 'PUT', waiting: [], met };
      }),
    hold: (n, method) =>
      new Promise<void>((met) => {
        held = { n, method, waiting: [], met };
      }),
    conditional,
    requests,
    fault: (f) => {
      fault = f;
    },
    stop: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    }
  };
}

/** A local S3 with the stores a suite opens over it, stopped together (the S3Store suites' set-up). */
export interface S3Stores {
  s3: LocalS3;
  /**
   * A store over the bucket with its own spool folder, and so its own lock: as one relay process has, so
   * two of them race as two relays sharing a bucket do. `extra` overrides any option (endpoint, bucket,
   * capacity, timeout, spool folder).
   */
  open: (extra?: Partial<S3StoreOptions>) => S3Store;
  /** Destroys every store opened, stops s3rver and removes its folder and the spool folders made here. */
  stop: () => Promise<void>;
}

export async function startS3Stores(opts: StartS3Options = {}): Promise<S3Stores> {
  const s3 = await startS3(opts);
  const stores: S3Store[] = [];
  const spoolDirs: string[] = [];
  return {
    s3,
    open: (extra = {}) => {
      const spoolDir = extra.spoolDir ?? mkdtempSync(join(tmpdir(), 'kofn-s3-spool-'));
      if (extra.spoolDir === undefined) spoolDirs.push(spoolDir);
      const store = new S3Store({ bucket: s3.bucket, region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials, ...extra, spoolDir });
      stores.push(store);
      return store;
    },
    stop: async () => {
      for (const store of stores) store.destroy();
      await s3.stop();
      for (const dir of spoolDirs) rmSync(dir, { recursive: true, force: true });
    }
  };
}
