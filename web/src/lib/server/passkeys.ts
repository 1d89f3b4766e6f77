/**
 * Passkeys (WebAuthn Level 3, issue #19) with @simplewebauthn/server: a signed-in user registers several,
 * names and removes them; anyone signs in with one, usernameless too (discoverable credentials: the
 * sign-in options name no account and allow any credential, and the authenticator picks).
 *
 * - Relying party: the coordinator's public origin (adapter-node's ORIGIN, the same origin the CSRF check
 *   compares with; README "Behind a reverse proxy"): the RP ID is its host name, the expected origin the
 *   origin itself. So a passkey made for one deployment never signs in to another.
 * - Challenges: 32 bytes from the project's random module, stored server-side with a 5-minute life and
 *   deleted by the ceremony that uses them (`DELETE ... RETURNING`, atomic on PGlite and PostgreSQL), so
 *   every assertion and attestation is good once: a replayed one finds no challenge (WebAuthn §13.4.3).
 *   A challenge is consumed before anything else is checked, so a failed attempt spends it too.
 * - Sign-in challenges belong to nobody, so they are capped per client address and in total: that cap is
 *   also the rate limit on sign-in attempts (each attempt needs a fresh challenge).
 * - User verification is required (a passkey replaces the password, so it must be two factors by itself).
 * - Counter and backup flags as SimpleWebAuthn advises: the library refuses a counter that did not grow
 *   (a cloned authenticator) unless both are 0, as synced passkeys keep; the new counter, the backup state
 *   and the last use are stored after each sign-in.
 * - The WebAuthn user handle is the account's UUID (16 bytes, no personal data; §14.6.1); a usernameless
 *   assertion's handle must name the credential's owner.
 *
 * Every failure to sign in is PASSKEY_REFUSED with one message, whatever went wrong, so nothing is
 * learnt about which credentials or accounts exist.
 */
import { createHash } from 'node:crypto';
import { and, asc, count, eq, gt, inArray, lt, sql } from 'drizzle-orm';
import { generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse } from '@simplewebauthn/server';
import type {
  AuthenticationResponseJSON,
  AuthenticatorTransportFuture,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON
} from '@simplewebauthn/server';
import { KofnError, randomBytes } from '@kofn/shared';
import type { Db } from './db/index.js';
import { passkeys, users, webauthnChallenges } from './db/schema.js';
import { createSession, toUser, type NewSession, type User } from './auth.js';
import { record } from './history.js';

export const CHALLENGE_TTL_MS = 5 * 60_000;
/** What the browser is told to wait for the person at the authenticator (ms). */
const CEREMONY_TIMEOUT_MS = 120_000;
export const MAX_PASSKEYS_PER_USER = 20;
export const MAX_PASSKEY_NAME = 64;
/** Open sign-in challenges per client address; past it, new ones are refused until some expire. */
export const MAX_OPEN_LOGIN_CHALLENGES_PER_CLIENT = 30;
/** Open sign-in challenges in all: bounds the table whatever number of addresses asks. */
export const MAX_OPEN_LOGIN_CHALLENGES = 10_000;
/** Open registration challenges per user: older ones are dropped (a person retrying, not an attack). */
const MAX_OPEN_REGISTER_CHALLENGES = 5;
/** Credential IDs are at most 1023 bytes (WebAuthn §5.8.3 via CTAP2): 1364 base64url characters. */
const MAX_CREDENTIAL_ID = 1364;
/** The longest base64url field a response may carry (attestation objects with certificate chains). */
const MAX_FIELD = 16 * 1024;
const B64URL = /^[A-Za-z0-9_-]*$/;
const TRANSPORTS: ReadonlySet<string> = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

export interface RelyingParty {
  /** The RP ID: the public origin's host name. */
  id: string;
  origin: string;
  name: string;
}

/** The relying party for a request URL (SvelteKit's `event.url`, whose origin adapter-node takes from ORIGIN). */
export function relyingParty(url: URL): RelyingParty {
  return { id: url.hostname, origin: url.origin, name: 'kofn' };
}

export interface PasskeyView {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  /** A synced passkey (multi-device credential) that is backed up. */
  backedUp: boolean;
  deviceType: string;
}

function view(r: typeof passkeys.$inferSelect): PasskeyView {
  return { id: r.id, name: r.name, createdAt: r.createdAt.toISOString(), lastUsedAt: r.lastUsedAt?.toISOString() ?? null, backedUp: r.backedUp, deviceType: r.deviceType };
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');
const b64url = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
/** The WebAuthn user handle of an account: its UUID's 16 bytes. */
const userHandle = (userId: string): Uint8Array<ArrayBuffer> => Uint8Array.from(Buffer.from(userId.replaceAll('-', ''), 'hex'));

export function passkeyName(raw: unknown): string {
  const name = typeof raw === 'string' ? raw.trim() : '';
  // Control characters would garble the list and the history; the name is the owner's own label.
  if (name.length === 0 || name.length > MAX_PASSKEY_NAME || /[\p{Cc}]/u.test(name)) {
    throw new KofnError('WRONG_VALUE', `A passkey needs a name of 1 to ${MAX_PASSKEY_NAME} characters.`);
  }
  return name;
}

function b64Field(v: unknown, max = MAX_FIELD): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= max && B64URL.test(v);
}

/** The common part of both response shapes (WebAuthn §5.1 toJSON()); the library checks the rest. */
function credentialShape(raw: unknown): raw is { id: string; rawId: string; type: 'public-key'; response: Record<string, unknown>; clientExtensionResults: object } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return false;
  const r = raw as Record<string, unknown>;
  if (!b64Field(r.id, MAX_CREDENTIAL_ID) || r.rawId !== r.id || r.type !== 'public-key') return false;
  if (typeof r.response !== 'object' || r.response === null || Array.isArray(r.response)) return false;
  if (r.clientExtensionResults !== undefined && (typeof r.clientExtensionResults !== 'object' || r.clientExtensionResults === null)) return false;
  return b64Field((r.response as Record<string, unknown>).clientDataJSON, 4096);
}

function registrationShape(raw: unknown): RegistrationResponseJSON | undefined {
  if (!credentialShape(raw)) return undefined;
  const res = raw.response;
  if (!b64Field(res.attestationObject)) return undefined;
  const transports = res.transports ?? [];
  if (!Array.isArray(transports) || transports.length > TRANSPORTS.size || !transports.every((t) => typeof t === 'string' && TRANSPORTS.has(t))) return undefined;
  return {
    id: raw.id,
    rawId: raw.rawId,
    type: 'public-key',
    response: { clientDataJSON: res.clientDataJSON as string, attestationObject: res.attestationObject, transports: transports as AuthenticatorTransportFuture[] },
    clientExtensionResults: {}
  };
}

function authenticationShape(raw: unknown): AuthenticationResponseJSON | undefined {
  if (!credentialShape(raw)) return undefined;
  const res = raw.response;
  if (!b64Field(res.authenticatorData) || !b64Field(res.signature, 2048)) return undefined;
  if (res.userHandle !== undefined && res.userHandle !== null && !b64Field(res.userHandle, 128)) return undefined;
  return {
    id: raw.id,
    rawId: raw.rawId,
    type: 'public-key',
    response: {
      clientDataJSON: res.clientDataJSON as string,
      authenticatorData: res.authenticatorData,
      signature: res.signature,
      ...(typeof res.userHandle === 'string' ? { userHandle: res.userHandle } : {})
    },
    clientExtensionResults: {}
  };
}

/** The challenge a response answers, read from its client data (bounded by the shape check); the library checks the rest. */
function challengeOf(clientDataJSON: string): string | undefined {
  try {
    const c = (JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
    return b64Field(c, 128) ? c : undefined;
  } catch {
    return undefined;
  }
}

/** Takes a challenge for one ceremony: true when it existed, was unexpired and is now gone. */
async function consumeChallenge(db: Db, challenge: string, purpose: 'register' | 'login', userId: string | null, now: Date): Promise<boolean> {
  const gone = await db
    .delete(webauthnChallenges)
    .where(
      and(eq(webauthnChallenges.challenge, challenge), eq(webauthnChallenges.purpose, purpose), userId === null ? sql`${webauthnChallenges.userId} is null` : eq(webauthnChallenges.userId, userId))
    )
    .returning({ expiresAt: webauthnChallenges.expiresAt });
  return gone.length === 1 && gone[0]!.expiresAt > now;
}

function newChallenge(): Uint8Array<ArrayBuffer> {
  // Copied into a plain ArrayBuffer-backed array, the type the library's options take.
  return new Uint8Array(randomBytes(32));
}

/** Options for `navigator.credentials.create()` (via @simplewebauthn/browser startRegistration). */
export async function registrationOptions(db: Db, user: User, rp: RelyingParty, now = new Date()): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const mine = await db.select({ id: passkeys.id, transports: passkeys.transports }).from(passkeys).where(eq(passkeys.userId, user.id));
  if (mine.length >= MAX_PASSKEYS_PER_USER) throw new KofnError('CONFLICT', `You have ${MAX_PASSKEYS_PER_USER} passkeys already: remove one first.`);
  const options = await generateRegistrationOptions({
    rpName: rp.name,
    rpID: rp.id,
    userName: user.email,
    userDisplayName: user.displayName,
    userID: userHandle(user.id),
    challenge: newChallenge(),
    timeout: CEREMONY_TIMEOUT_MS,
    attestationType: 'none',
    // The authenticator does not make a second credential for this account (WebAuthn §5.4 excludeCredentials).
    excludeCredentials: mine.map((p) => ({ id: p.id, transports: p.transports as AuthenticatorTransportFuture[] })),
    // Discoverable, so it signs in without an e-mail; verified, so it stands for a password (see above).
    authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' }
  });
  const client = `user:${user.id}`;
  await db.transaction(async (tx) => {
    await tx.insert(webauthnChallenges).values({ challenge: options.challenge, purpose: 'register', userId: user.id, client, expiresAt: new Date(now.getTime() + CHALLENGE_TTL_MS) });
    const open = await tx.select({ c: webauthnChallenges.challenge }).from(webauthnChallenges).where(eq(webauthnChallenges.client, client)).orderBy(asc(webauthnChallenges.expiresAt));
    const drop = open.slice(0, Math.max(0, open.length - MAX_OPEN_REGISTER_CHALLENGES)).map((r) => r.c);
    if (drop.length) await tx.delete(webauthnChallenges).where(inArray(webauthnChallenges.challenge, drop));
  });
  return options;
}

/** Verifies a new credential made from `registrationOptions` and keeps it under `name`. */
export async function registerPasskey(db: Db, user: User, rp: RelyingParty, input: Record<string, unknown>, now = new Date()): Promise<PasskeyView> {
  const name = passkeyName(input.name);
  const response = registrationShape(input.response);
  if (!response) throw new KofnError('PASSKEY_INVALID', 'The passkey response is malformed.');
  const challenge = challengeOf(response.response.clientDataJSON);
  if (!challenge || !(await consumeChallenge(db, challenge, 'register', user.id, now))) {
    throw new KofnError('PASSKEY_INVALID', 'This passkey request expired or was already used: try again.');
  }
  let info;
  try {
    const verified = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: rp.origin, expectedRPID: rp.id, requireUserVerification: true });
    info = verified.verified ? verified.registrationInfo : undefined;
  } catch {
    info = undefined;
  }
  if (!info) throw new KofnError('PASSKEY_INVALID', 'The passkey could not be verified.');
  const { credential } = info;
  const row = await db.transaction(async (tx) => {
    // Counted and inserted under the user's row lock, so parallel registrations cannot pass the cap together.
    await tx.select({ id: users.id }).from(users).where(eq(users.id, user.id)).for('update');
    const [c] = await tx.select({ n: count() }).from(passkeys).where(eq(passkeys.userId, user.id));
    if ((c?.n ?? 0) >= MAX_PASSKEYS_PER_USER) throw new KofnError('CONFLICT', `You have ${MAX_PASSKEYS_PER_USER} passkeys already: remove one first.`);
    const [r] = await tx
      .insert(passkeys)
      .values({
        id: credential.id,
        userId: user.id,
        name,
        publicKey: b64url(credential.publicKey),
        counter: credential.counter,
        transports: (credential.transports ?? []).filter((t) => TRANSPORTS.has(t)),
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
        createdAt: now
      })
      .onConflictDoNothing()
      .returning();
    return r;
  });
  if (!row) throw new KofnError('CONFLICT', 'This passkey is already registered.');
  await record(db, { userId: user.id, operation: 'passkey_add', fileName: name, result: 'ok', detail: info.credentialDeviceType === 'multiDevice' ? 'synced passkey' : 'device-bound passkey' });
  return view(row);
}

export async function listPasskeys(db: Db, userId: string): Promise<PasskeyView[]> {
  const rows = await db.select().from(passkeys).where(eq(passkeys.userId, userId)).orderBy(asc(passkeys.createdAt), asc(passkeys.id));
  return rows.map(view);
}

/** Whether the account has a passkey (for the administrators' second-factor policy: a passkey is one). */
export async function userHasPasskey(db: Db, userId: string): Promise<boolean> {
  const [row] = await db.select({ id: passkeys.id }).from(passkeys).where(eq(passkeys.userId, userId)).limit(1);
  return row !== undefined;
}

function ownId(raw: unknown): string {
  if (!b64Field(raw, MAX_CREDENTIAL_ID)) throw new KofnError('NOT_FOUND', 'No such passkey.');
  return raw;
}

export async function renamePasskey(db: Db, user: User, id: unknown, rawName: unknown): Promise<PasskeyView> {
  const name = passkeyName(rawName);
  const [row] = await db
    .update(passkeys)
    .set({ name })
    .where(and(eq(passkeys.id, ownId(id)), eq(passkeys.userId, user.id)))
    .returning();
  if (!row) throw new KofnError('NOT_FOUND', 'No such passkey.');
  await record(db, { userId: user.id, operation: 'passkey_rename', fileName: name, result: 'ok' });
  return view(row);
}

/** Removes one of the user's passkeys: it signs in no more from this moment. */
export async function removePasskey(db: Db, user: User, id: unknown): Promise<void> {
  const [row] = await db
    .delete(passkeys)
    .where(and(eq(passkeys.id, ownId(id)), eq(passkeys.userId, user.id)))
    .returning({ name: passkeys.name });
  if (!row) throw new KofnError('NOT_FOUND', 'No such passkey.');
  await record(db, { userId: user.id, operation: 'passkey_remove', fileName: row.name, result: 'ok' });
}

/** Options for `navigator.credentials.get()`: no account, no allowed list (usernameless; §5.4 discoverable). */
export async function loginOptions(db: Db, rp: RelyingParty, clientAddress: string, now = new Date()): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const client = sha256(`addr:${clientAddress}`);
  const open = gt(webauthnChallenges.expiresAt, now);
  const [mine] = await db
    .select({ n: count() })
    .from(webauthnChallenges)
    .where(and(eq(webauthnChallenges.client, client), open));
  const [all] = await db
    .select({ n: count() })
    .from(webauthnChallenges)
    .where(and(eq(webauthnChallenges.purpose, 'login'), open));
  if ((mine?.n ?? 0) >= MAX_OPEN_LOGIN_CHALLENGES_PER_CLIENT || (all?.n ?? 0) >= MAX_OPEN_LOGIN_CHALLENGES) {
    throw Object.assign(new KofnError('RATE_LIMITED', 'Too many passkey sign-ins started: try again in a few minutes.'), { retryAfterSeconds: Math.ceil(CHALLENGE_TTL_MS / 1000) });
  }
  const options = await generateAuthenticationOptions({ rpID: rp.id, challenge: newChallenge(), timeout: CEREMONY_TIMEOUT_MS, userVerification: 'required', allowCredentials: [] });
  await db.insert(webauthnChallenges).values({ challenge: options.challenge, purpose: 'login', userId: null, client, expiresAt: new Date(now.getTime() + CHALLENGE_TTL_MS) });
  return options;
}

const refused = () => new KofnError('PASSKEY_REFUSED', 'This passkey was not accepted.');

/** Passkey sign-in: verifies an assertion answering a `loginOptions` challenge and starts a normal session. */
export async function passkeyLogin(db: Db, rp: RelyingParty, input: Record<string, unknown>, now = new Date()): Promise<NewSession> {
  const response = authenticationShape(input.response);
  if (!response) throw new KofnError('PASSKEY_INVALID', 'The passkey response is malformed.');
  const challenge = challengeOf(response.response.clientDataJSON);
  if (!challenge || !(await consumeChallenge(db, challenge, 'login', null, now))) throw refused();
  const [row] = await db.select({ key: passkeys, user: users }).from(passkeys).innerJoin(users, eq(users.id, passkeys.userId)).where(eq(passkeys.id, response.id));
  if (!row || row.user.disabled) throw refused();
  if (response.response.userHandle !== undefined && response.response.userHandle !== b64url(userHandle(row.user.id))) throw refused();
  let info;
  try {
    const verified = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: rp.origin,
      expectedRPID: rp.id,
      requireUserVerification: true,
      credential: {
        id: row.key.id,
        publicKey: Uint8Array.from(Buffer.from(row.key.publicKey, 'base64url')),
        counter: row.key.counter,
        transports: row.key.transports as AuthenticatorTransportFuture[]
      }
    });
    info = verified.verified ? verified.authenticationInfo : undefined;
  } catch {
    // The library throws on a bad signature, origin, RP ID, missing UV or a counter that went backwards.
    info = undefined;
  }
  if (!info) {
    await record(db, { userId: row.user.id, operation: 'passkey_use', fileName: row.key.name, result: 'error', detail: 'sign-in refused' });
    throw refused();
  }
  await db
    .update(passkeys)
    .set({ counter: sql`greatest(${passkeys.counter}, ${info.newCounter})`, backedUp: info.credentialBackedUp, deviceType: info.credentialDeviceType, lastUsedAt: now })
    .where(eq(passkeys.id, row.key.id));
  await record(db, { userId: row.user.id, operation: 'passkey_use', fileName: row.key.name, result: 'ok', detail: 'signed in' });
  return createSession(db, toUser(row.user), now);
}

export async function purgeExpiredChallenges(db: Db, now = new Date()): Promise<number> {
  const gone = await db.delete(webauthnChallenges).where(lt(webauthnChallenges.expiresAt, now)).returning({ c: webauthnChallenges.challenge });
  return gone.length;
}
