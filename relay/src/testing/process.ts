/** Starts a real relay process (dist/main.js) on a loopback port with a test key and extra environment. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { exportJWK } from 'jose';
import { makeSigner, type Signer } from './tokens.js';

const MAIN = join(import.meta.dirname, '..', '..', 'dist', 'main.js');

export interface RelayProcess {
  url: string;
  port: number;
  dataDir: string;
  signer: Signer;
  stop: () => Promise<void>;
}

export async function startRelayProcess(relayId: string, env: Record<string, string>): Promise<RelayProcess> {
  const signer = await makeSigner(relayId);
  const dataDir = mkdtempSync(join(tmpdir(), 'kofn-relay-proc-'));
  const child: ChildProcess = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      KOFN_RELAY_NAME: 'proc',
      KOFN_RELAY_HOST: '127.0.0.1',
      KOFN_RELAY_PORT: '0',
      KOFN_RELAY_DATA: dataDir,
      KOFN_RELAY_ID: relayId,
      KOFN_TOKEN_PUBLIC_JWK: JSON.stringify(await exportJWK(signer.publicKey)),
      KOFN_COORDINATOR: '',
      KOFN_LOG_LEVEL: 'warn',
      ...env
    },
    stdio: ['ignore', 'pipe', 'inherit']
  });
  const stop = () =>
    new Promise<void>((res) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        res();
        return;
      }
      child.removeAllListeners('exit');
      child.once('exit', () => res());
      child.kill('SIGKILL');
    });
  const url = await new Promise<string>((res, rej) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { event: string; url: string };
      if (msg.event === 'listening') res(msg.url);
    });
    child.once('exit', (code) => rej(new Error(`relay exited early (${code})`)));
  });
  return { url, port: Number(new URL(url).port), dataDir, signer, stop };
}
