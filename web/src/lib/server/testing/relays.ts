/**
 * Real relay processes for coordinator tests (relay/dist/main.js), trusting the test coordinator's public
 * signing key, each registered in the test database as an enrolled relay (a fixture: enrollment itself is
 * tested in relays.test.ts); the relay processes run stand-alone, without heartbeats.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { newEd25519KeyPair } from '@kofn/shared/ed25519-keys';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/index.js';
import { relays } from '../db/schema.js';
import { publicJwks } from '../signing-keys.js';
import { randomUuid } from '@kofn/shared';
import { repoFile } from './repo-file.js';

export interface TestRelay {
  id: string;
  name: string;
  url: string;
  dataDir: string;
  /** Stops the process by PID; `keepData` leaves its folder for a restart. */
  stop: (keepData?: boolean) => Promise<void>;
  /** kill -9 by PID (no shutdown of any kind), data kept: a crash, for the crash campaigns. */
  kill: () => Promise<void>;
  /** Starts the same relay (same id and data) again and records its new address. */
  restart: () => Promise<void>;
}

const main = repoFile('relay/dist/main.js');

function spawnRelay(id: string, name: string, dataDir: string, jwk: string, env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child: ChildProcess = spawn(process.execPath, [main], {
    env: {
      ...process.env,
      ...env,
      KOFN_RELAY_NAME: name,
      KOFN_RELAY_DATA: dataDir,
      KOFN_RELAY_PORT: '0',
      KOFN_RELAY_ID: id,
      KOFN_TOKEN_PUBLIC_JWK: jwk,
      KOFN_COORDINATOR: '',
      KOFN_LOG_LEVEL: 'warn'
    },
    stdio: ['ignore', 'pipe', 'inherit']
  });
  return new Promise((res, rej) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as { event: string; url: string };
      if (msg.event === 'listening') {
        child.removeAllListeners('exit');
        res({ child, url: msg.url });
      }
    });
    child.once('exit', (code) => rej(new Error(`relay exited early (${code})`)));
  });
}

/** Registers a relay as enrolled (a key of its own pinned) and just heard from: a fixture for suites. */
export async function registerTestRelay(db: Db, r: { id: string; name: string; url: string }): Promise<void> {
  const publicKey = newEd25519KeyPair().publicKey.export({ format: 'jwk' }).x!;
  await db.insert(relays).values({ ...r, location: 'test', version: '0.1.0', storage: 'Disk', freeBytes: 1e12, usedBytes: 0, lastHeartbeat: new Date(), publicKey });
}

/** `env` adds to each relay's environment (e.g. a lowered KOFN_RELAY_IDLE_TIMEOUT_MS). */
export async function startRelays(db: Db, n: number, env: Record<string, string> = {}): Promise<TestRelay[]> {
  const { keys } = await publicJwks(db);
  const jwk = JSON.stringify(keys[0]);
  const out: TestRelay[] = [];
  for (let i = 1; i <= n; i++) {
    const id = randomUuid();
    const name = `test-relay-${i}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'kofn-coord-relay-'));
    let { child, url } = await spawnRelay(id, name, dataDir, jwk, env);
    await registerTestRelay(db, { id, name, url });
    const announce = (u: string) => db.update(relays).set({ url: u, lastHeartbeat: new Date() }).where(eq(relays.id, id));
    const relay: TestRelay = {
      id,
      name,
      url,
      dataDir,
      stop: (keepData = false) =>
        new Promise((res) => {
          const done = () => {
            if (!keepData) rmSync(dataDir, { recursive: true, force: true });
            res();
          };
          if (child.exitCode !== null || child.signalCode !== null) {
            done();
            return;
          }
          child.once('exit', done);
          process.kill(child.pid!, 'SIGTERM');
        }),
      kill: () =>
        new Promise((res) => {
          if (child.exitCode !== null || child.signalCode !== null) {
            res();
            return;
          }
          child.once('exit', () => res());
          process.kill(child.pid!, 'SIGKILL');
        }),
      restart: async () => {
        ({ child, url } = await spawnRelay(id, name, dataDir, jwk, env));
        relay.url = url;
        await announce(url);
      }
    };
    out.push(relay);
  }
  return out;
}
