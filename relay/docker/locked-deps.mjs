#!/usr/bin/env node
/**
 * Writes, into a directory, a package.json and a package-lock.json holding the production dependencies of the
 * named workspaces at exactly the versions the repository's package-lock.json pins, so that `npm ci --omit=dev`
 * there installs what `npm ci` at the root installed and the tests ran against. The Docker images' contexts
 * (relay/docker/build-context.sh, web/docker/build-context.sh) are made so.
 *
 * Why not `npm install` of the workspaces' declared ranges: it resolves them afresh from the registry, so an
 * image held whatever was newest that day, and on a day a release's own dependency was missing from the
 * registry (otplib 13.6.0 asked for an @otplib/totp 13.6.0 the registry did not have) the install failed and
 * no image could be built at all, though the locked 13.5.0 was there.
 *
 *   node relay/docker/locked-deps.mjs <dir> <workspace> [<workspace> ...]
 *
 * The lock's entries are kept whole (version, resolved, integrity, engines, os/cpu) under the same paths, so
 * npm resolves each package exactly as at the root; workspaces' own packages (@kofn/*) are left out: the
 * callers unpack the packed ones over the result.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const [dir, ...workspaces] = process.argv.slice(2);
if (!dir || workspaces.length === 0) {
  process.stderr.write('usage: locked-deps.mjs <dir> <workspace> [<workspace> ...]\n');
  process.exit(2);
}

const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
const entries = lock.packages;

/** npm's lookup: `<from>/node_modules/<name>`, then each enclosing node_modules up to the root's. */
function locate(from, name) {
  let at = from;
  for (;;) {
    const path = `${at ? `${at}/` : ''}node_modules/${name}`;
    if (entries[path]) return path;
    if (!at) return undefined;
    const i = at.lastIndexOf('/node_modules/');
    at = i >= 0 ? at.slice(0, i) : '';
  }
}

const isOwn = (name) => name.startsWith('@kofn/');
const kept = new Map();
const direct = {};

function visit(from, deps, optional) {
  for (const name of Object.keys(deps ?? {})) {
    if (isOwn(name)) continue;
    const path = locate(from, name);
    if (!path) {
      if (optional) continue;
      throw new Error(`${name} (needed by ${from || 'the image'}) is not in package-lock.json: run npm install at the root`);
    }
    if (kept.has(path)) continue;
    const entry = entries[path];
    if (entry.link) throw new Error(`${path} is a link in package-lock.json; only registry packages can go in an image`);
    kept.set(path, entry);
    visit(path, entry.dependencies, false);
    visit(path, entry.optionalDependencies, true);
    // Peers a package needs are installed beside it (npm 7+); optional peers only when something else brings them.
    const optionalPeers = entry.peerDependenciesMeta ?? {};
    visit(path, Object.fromEntries(Object.entries(entry.peerDependencies ?? {}).filter(([n]) => !optionalPeers[n]?.optional)), false);
  }
}

for (const ws of workspaces) {
  const pkg = entries[ws];
  if (!pkg) throw new Error(`no workspace ${ws} in package-lock.json`);
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    if (isOwn(name)) continue;
    const path = locate(ws, name);
    if (!path) throw new Error(`${name} (a dependency of ${ws}) is not in package-lock.json`);
    direct[name] = entries[path].version;
  }
  visit(ws, pkg.dependencies, false);
  visit(ws, pkg.optionalDependencies, true);
}

// Every kept entry is a production package of the image, whatever the root's lock flags it for the whole tree.
const packages = { '': { name: 'kofn-image', dependencies: direct } };
for (const [path, entry] of [...kept].sort(([a], [b]) => a.localeCompare(b))) {
  // A package nested under a workspace's own node_modules would need that workspace's place in the image.
  if (!path.startsWith('node_modules/')) throw new Error(`${path}: a dependency installed under a workspace; hoist it (npm dedupe) first`);
  packages[path] = Object.fromEntries(Object.entries(entry).filter(([field]) => !['dev', 'devOptional', 'peer'].includes(field)));
}

mkdirSync(dir, { recursive: true });
const manifest = { name: 'kofn-image', private: true, type: 'module', dependencies: direct };
writeFileSync(join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify({ name: 'kofn-image', lockfileVersion: 3, requires: true, packages }, null, 2)}\n`);
process.stdout.write(`locked-deps: ${kept.size} packages for ${workspaces.join(', ')}\n`);
