/** The session cookie: HttpOnly, SameSite=Strict, Secure whenever the app is served over TLS. */
import type { RequestEvent } from '@sveltejs/kit';
import { SESSION_COOKIE, type NewSession } from './auth.js';
import { CHALLENGE_COOKIE } from './second-factor.js';

/** Both cookies kofn sets carry a secret: never readable by scripts, never sent cross-site, Secure under TLS. */
function setSecretCookie(event: RequestEvent, name: string, path: string, value: string, expires: Date): void {
  event.cookies.set(name, value, { path, httpOnly: true, sameSite: 'strict', secure: event.url.protocol === 'https:', expires });
}

function clearSecretCookie(event: RequestEvent, name: string, path: string): void {
  event.cookies.delete(name, { path, secure: event.url.protocol === 'https:' });
}

export function setSessionCookie(event: RequestEvent, session: NewSession): void {
  setSecretCookie(event, SESSION_COOKIE, '/', session.token, session.expiresAt);
}

export function clearSessionCookie(event: RequestEvent): void {
  clearSecretCookie(event, SESSION_COOKIE, '/');
}

/**
 * The half-signed-in state's cookie (second-factor.ts): HttpOnly, SameSite=Strict, sent only to the
 * sign-in routes, gone after CHALLENGE_TTL_MS.
 */
export function setChallengeCookie(event: RequestEvent, challenge: { token: string; expiresAt: Date }): void {
  setSecretCookie(event, CHALLENGE_COOKIE, '/api/login', challenge.token, challenge.expiresAt);
}

export function clearChallengeCookie(event: RequestEvent): void {
  clearSecretCookie(event, CHALLENGE_COOKIE, '/api/login');
}
