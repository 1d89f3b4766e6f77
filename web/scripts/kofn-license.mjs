#!/usr/bin/env node
/**
 * kofn-license: the vendor side of kofn licences.
 *   kofn-license keygen --out DIR                 write DIR/license-private.pem and DIR/license-public.pem
 *   kofn-license issue --key PRIVATE.pem --tier Essential|Pro|Elite|Custom --licensee NAME
 *                      [--relays N] [--users N] [--protected-bytes N] [--max-file-size N]
 *                      [--expires YYYY-MM-DD] [--out license.json]
 *   kofn-license inspect LICENSE.json [--public-key PUBLIC.pem]
 * The coordinator loads --license / KOFN_LICENSE and verifies it with the vendor public key built into it
 * (web/src/lib/server/license-keys.ts); builds made for tests also trust the TEST-ONLY key in
 * web/src/lib/server/testing/. `keygen` makes a new vendor key pair: a new product key means a new release.
 */
import { createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { randomUuid } from '@kofn/shared';
import { newEd25519KeyPair } from '@kofn/shared/ed25519-keys';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [cmd, ...rest] = process.argv.slice(2);
const opt = (name) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};
const fail = (msg) => {
  process.stderr.write(`kofn-license: ${msg}\n`);
  process.exit(2);
};

if (cmd === 'keygen') {
  const dir = opt('--out') ?? '.';
  mkdirSync(dir, { recursive: true });
  const { publicKey, privateKey } = newEd25519KeyPair();
  writeFileSync(join(dir, 'license-private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'license-public.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
  process.stdout.write(`wrote ${join(dir, 'license-private.pem')} (keep it offline) and ${join(dir, 'license-public.pem')}\n`);
} else if (cmd === 'issue') {
  const keyPath = opt('--key') ?? fail('--key PRIVATE.pem is required');
  const tier = opt('--tier') ?? fail('--tier is required');
  if (!['Essential', 'Pro', 'Elite', 'Custom'].includes(tier)) fail('Wrong value supplied for field "tier". Valid values are Essential, Pro, Elite, Custom.');
  const limits = {};
  for (const [flag, field] of [
    ['--relays', 'relays'],
    ['--users', 'users'],
    ['--protected-bytes', 'protectedBytes'],
    ['--max-file-size', 'maxFileSize']
  ]) {
    const v = opt(flag);
    if (v !== undefined) {
      if (!/^[1-9]\d*$/.test(v)) fail(`${flag} expects a positive integer`);
      limits[field] = Number(v);
    }
  }
  if (tier === 'Custom' && Object.keys(limits).length !== 4) fail('a Custom licence needs --relays, --users, --protected-bytes and --max-file-size');
  const expires = opt('--expires');
  const payload = {
    id: randomUuid(),
    licensee: opt('--licensee') ?? fail('--licensee is required'),
    tier,
    ...(Object.keys(limits).length ? { limits } : {}),
    issuedAt: new Date().toISOString(),
    ...(expires ? { expiresAt: new Date(`${expires}T23:59:59Z`).toISOString() } : {})
  };
  const bytes = Buffer.from(JSON.stringify(payload));
  const signature = sign(null, bytes, createPrivateKey(readFileSync(keyPath)));
  const doc = JSON.stringify({ license: bytes.toString('base64url'), signature: signature.toString('base64url') }, null, 2) + '\n';
  const out = opt('--out');
  if (out) writeFileSync(out, doc);
  else process.stdout.write(doc);
} else if (cmd === 'inspect') {
  const file = rest[0] ?? fail('inspect LICENSE.json');
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  const bytes = Buffer.from(doc.license, 'base64url');
  const payload = JSON.parse(bytes.toString('utf8'));
  const pub = opt('--public-key');
  const sig = pub ? (verify(null, bytes, createPublicKey(readFileSync(pub)), Buffer.from(doc.signature, 'base64url')) ? 'valid' : 'INVALID') : 'not checked (no --public-key)';
  process.stdout.write(`${JSON.stringify(payload, null, 2)}\nsignature: ${sig}\n`);
  if (sig === 'INVALID') process.exit(1);
} else {
  process.stdout.write('usage: kofn-license keygen|issue|inspect (see the header of web/scripts/kofn-license.mjs)\n');
  process.exit(cmd ? 2 : 0);
}
