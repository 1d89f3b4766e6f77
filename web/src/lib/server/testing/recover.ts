/**
 * Offline recovery and disk inspection for the coordinator's durability suites (repair, drain, relay
 * lifecycle, epochs): the real `kofn-recover` launcher run over real relay folders, and the share chunks
 * a disk relay holds.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { TestRelay } from './relays.js';
import { repoFile } from './repo-file.js';

const recoverBin = repoFile('shared/bin/kofn-recover.mjs');

/**
 * `kofn-recover` over the given relay folders; answers file name -> bytes. Files with fewer than k shares
 * in these folders fail there by design (exit 1), so the caller checks the files it expects; a corrupt
 * share is never expected.
 */
export function recover(dirs: string[]): Map<string, Buffer> {
  const out = mkdtempSync(join(tmpdir(), 'kofn-recovered-'));
  const r = spawnSync(process.execPath, [recoverBin, '--out', out, ...dirs], { encoding: 'utf8' });
  expect([0, 1], r.stdout + r.stderr).toContain(r.status);
  expect(r.stdout).not.toMatch(/corrupt share/);
  const files = new Map(
    readdirSync(out)
      .filter((n) => !n.startsWith('kofn-recover'))
      .map((n) => [n, readFileSync(join(out, n))])
  );
  rmSync(out, { recursive: true, force: true });
  return files;
}

/** Share chunks a disk relay holds, over every file and epoch. */
export function chunksOn(r: TestRelay): string[] {
  const root = join(r.dataDir, 'chunks');
  return existsSync(root) ? readdirSync(root).flatMap((s) => readdirSync(join(root, s)).flatMap((f) => readdirSync(join(root, s, f)))) : [];
}
