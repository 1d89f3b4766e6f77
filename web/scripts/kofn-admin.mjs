#!/usr/bin/env node
/**
 * kofn-admin: an administrator's storage-server tasks from a terminal, through the coordinator's API
 * (the same routes and checks as the Administration page).
 *
 *   kofn-admin enroll --coordinator URL --email ADMIN [--name NAME] [--relay RELAY_ID]
 *       make a one-time enrollment token for a new relay (or, with --relay, a new key for that relay)
 *       and print it with the command that starts the relay with it
 *   kofn-admin relays --coordinator URL --email ADMIN
 *       list relays with their status and key fingerprints
 *   kofn-admin set-relay RELAY_ID --coordinator URL --email ADMIN [--url URL] [--name NAME] [--location TEXT]
 *       change a relay's URL, name or location (recorded in the administrator's history)
 *
 * The password comes from KOFN_ADMIN_PASSWORD or, if unset, from the first line of standard input. The
 * token is printed once and never written anywhere else.
 */
import { createInterface } from 'node:readline';

const [cmd, ...rest] = process.argv.slice(2);
const opt = (name) => {
  const i = rest.indexOf(name);
  return i >= 0 ? rest[i + 1] : undefined;
};
const fail = (msg, code = 2) => {
  process.stderr.write(`kofn-admin: ${msg}\n`);
  process.exit(code);
};

const TIMEOUT_MS = 15_000;
// Answers are small JSON documents; a longer one is not an answer from a coordinator.
const MAX_ANSWER = 1024 * 1024;

async function readPassword() {
  if (process.env.KOFN_ADMIN_PASSWORD) return process.env.KOFN_ADMIN_PASSWORD;
  if (process.stdin.isTTY) process.stderr.write('Password: ');
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    rl.close();
    return line;
  }
  fail('no password: set KOFN_ADMIN_PASSWORD or give it on standard input');
}

async function call(base, method, path, { body, cookie, csrf } = {}) {
  const headers = { origin: base };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (cookie) headers.cookie = cookie;
  if (csrf) headers['x-csrf-token'] = csrf;
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.text();
  if (text.length > MAX_ANSWER) fail(`the coordinator's answer to ${path} is too large`, 1);
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    fail(`the coordinator answered ${res.status} with something that is not JSON`, 1);
  }
  if (!res.ok) fail(`${data?.error?.code ?? res.status}: ${data?.error?.message ?? 'request failed'}`, 1);
  return { res, data };
}

async function signIn() {
  const coordinator = opt('--coordinator')?.replace(/\/$/, '');
  const email = opt('--email');
  if (!coordinator || !email) fail('--coordinator URL and --email ADMIN are required');
  const password = await readPassword();
  const { res, data } = await call(coordinator, 'POST', '/api/login', { body: { email, password } });
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  return { coordinator, cookie, csrf: data.csrfToken };
}

if (cmd === 'enroll') {
  const s = await signIn();
  const name = opt('--name') ?? 'relay';
  const { data } = await call(s.coordinator, 'POST', '/api/relays/enrollments', { body: { label: name, relayId: opt('--relay') }, ...s });
  process.stdout.write(
    `Enrollment token for ${name} (works once, expires ${data.enrollment.expiresAt}):\n${data.token}\n\n` +
      `Start the relay once with it:\n  KOFN_COORDINATOR=${s.coordinator} KOFN_RELAY_ENROLLMENT_TOKEN=${data.token} node relay/dist/main.js\n`
  );
} else if (cmd === 'relays') {
  const s = await signIn();
  const { data } = await call(s.coordinator, 'GET', '/api/relays', s);
  for (const r of data.relays) {
    process.stdout.write(`${r.id}  ${r.name}  ${r.url}  ${r.status}  ${r.enrolled ? `key ${r.fingerprint}` : 'NOT ENROLLED'}\n`);
  }
} else if (cmd === 'set-relay') {
  const id = rest[0];
  if (!id || id.startsWith('--')) fail('usage: kofn-admin set-relay RELAY_ID --coordinator URL --email ADMIN [--url URL] [--name NAME] [--location TEXT]');
  const s = await signIn();
  const patch = Object.fromEntries(['url', 'name', 'location'].map((f) => [f, opt(`--${f}`)]).filter(([, v]) => v !== undefined));
  await call(s.coordinator, 'PATCH', `/api/relays/${id}`, { body: patch, ...s });
  process.stdout.write(`Storage server ${id} updated.\n`);
} else {
  fail('usage: kofn-admin enroll | relays | set-relay (see the header of web/scripts/kofn-admin.mjs)');
}
