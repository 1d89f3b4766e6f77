/** A real S3-compatible server (s3rver) on loopback for the storage suite. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/**
 * What a PUT carrying `If-None-Match: *` meets. s3rver ignores the header (`'ignore'`, the default: a store
 * without conditional writes). `'aws'` adds AWS S3's documented behaviour in front of s3rver's own handler:
 * one conditional write per key at a time, refused with 412 PreconditionFailed when an object (whole or
 * not) is at the key once its turn comes. `'refuse'` answers 501 NotImplemented, as a store that rejects
 * the header; `'conflict'` answers 409 ConditionalRequestConflict every time, as a key whose conflicting
 * write never settles.
 */
export type ConditionalWrites = 'ignore' | 'aws' | 'refuse' | 'conflict';

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
  /** PUTs that carried `If-None-Match: *`, and how many of those were refused (412, 409 or 501). */
  conditional: { sent: number; refused: number };
  stop: () => Promise<void>;
}

interface KoaContext {
  method: string;
  path: string;
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

export async function startS3(opts: { conditionalWrites?: ConditionalWrites } = {}): Promise<LocalS3> {
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
  let held: { n: number; waiting: Array<() => void>; met: () => void } | undefined;
  /** One conditional write per key at a time: the tail of each key's queue. */
  const queues = new Map<string, Promise<void>>();
  const prefix = `/${bucket}/`;
  const middleware: Middleware = async (ctx, next) => {
    if (ctx.method !== 'PUT' || !ctx.path.startsWith(`${prefix}chunks/`)) return next();
    const key = decodeURIComponent(ctx.path.slice(prefix.length));
    if (held) {
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
        held = { n, waiting: [], met };
      }),
    conditional,
    stop: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    }
  };
}
