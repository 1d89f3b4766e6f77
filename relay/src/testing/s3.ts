/** A real S3-compatible server (s3rver) on loopback for the storage suite. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

export interface LocalS3 {
  endpoint: string;
  bucket: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Where s3rver keeps object bytes (to simulate bit rot underneath it). */
  objectPath: (key: string) => string;
  stop: () => Promise<void>;
}

export async function startS3(): Promise<LocalS3> {
  const directory = mkdtempSync(join(tmpdir(), 'kofn-s3rver-'));
  const bucket = 'kofn-test';
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    region: 'us-east-1',
    // s3rver's fixed development credentials.
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    objectPath: (key) => {
      const parts = key.split('/');
      const last = parts.pop()!;
      return join(directory, bucket, ...parts, `${last}._S3rver_object`);
    },
    stop: async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    }
  };
}
