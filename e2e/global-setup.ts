/**
 * Starts the whole product (coordinator on a fresh PGlite directory, five disk relays) with the same
 * launcher as `npm start`, on free loopback ports, and stops it by PID when the suite ends.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export interface StackInfo {
  url: string;
  relays: string[];
  pid: number;
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const root = resolve(import.meta.dirname, '..');
  const dataDir = mkdtempSync(join(tmpdir(), 'kofn-e2e-'));
  const env = { ...process.env };
  // The e2e stack always uses its own embedded database; PostgreSQL is covered by the coordinator suites.
  delete env.DATABASE_URL;
  // Five relays need a Pro licence: a vendor key made for this run signs one with the real kofn-license tool.
  const license = join(dataDir, 'license.json');
  const cli = join(root, 'web/scripts/kofn-license.mjs');
  execFileSync(process.execPath, [cli, 'keygen', '--out', join(dataDir, 'vendor')]);
  execFileSync(process.execPath, [cli, 'issue', '--key', join(dataDir, 'vendor', 'license-private.pem'), '--tier', 'Pro', '--licensee', 'kofn e2e', '--out', license]);
  env.KOFN_LICENSE_PUBLIC_KEY = readFileSync(join(dataDir, 'vendor', 'license-public.pem'), 'utf8');
  const child = spawn(process.execPath, [join(root, 'web/scripts/stack.mjs'), '--data-dir', dataDir, '--relays', '5', '--ephemeral-ports', '--json', '--license', license], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'inherit']
  });
  const info = await new Promise<StackInfo>((res, rej) => {
    const timer = setTimeout(() => rej(new Error('kofn stack did not become ready in 90 s')), 90_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith('{')) return;
      const msg = JSON.parse(line) as { event?: string } & StackInfo;
      if (msg.event === 'ready') {
        clearTimeout(timer);
        res(msg);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`kofn stack exited early with code ${code}`));
    });
  });
  process.env.KOFN_E2E_URL = info.url;
  process.env.KOFN_E2E_DATA_DIR = dataDir;
  process.env.KOFN_E2E_RELAYS = JSON.stringify(info.relays);

  return async () => {
    await new Promise<void>((res) => {
      if (child.exitCode !== null) return res();
      child.once('exit', () => res());
      process.kill(child.pid!, 'SIGTERM');
    });
    rmSync(dataDir, { recursive: true, force: true });
  };
}
