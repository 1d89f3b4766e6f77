/** The session cookie: HttpOnly, SameSite=Strict, Secure whenever the app is served over TLS. */
import type { RequestEvent } from '@sveltejs/kit';
import { SESSION_COOKIE, type NewSession } from './auth.js';
import { CHALLENGE_COOKIE } from './second-factor.js';

export function setSessionCookie(event: RequestEvent, session: NewSession): void {
  event.cookies.set(SESSION_COOKIE, session.token, {
    path: '/',
    httpOnly: true,
    sameSite: 'strict',
    secure: event.url.protocol === 'https:',
    expires: session.expiresAt
  });
}

export function clearSessionCookie(event: RequestEvent): void {
  event.cookies.delete(SESSION_COOKIE, { path: '/', secure: event.url.protocol === 'https:' });
}

/**
 * The half-signed-in state's cookie (second-factor.ts): HttpOnly, SameSite=Strict, sent only to the
 * sign-in routes, gone after CHALLENGE_TTL_MS.
 */
export function setChallengeCookie(event: RequestEvent, challenge: { token: string; expiresAt: Date }): void {
  event.cookies.set(CHALLENGE_COOKIE, challenge.token, {
    path: '/api/login',
    httpOnly: true,
    sameSite: 'strict',
    secure: event.url.protocol === 'https:',
    expires: challenge.expiresAt
  });
}

export function clearChallengeCookie(event: RequestEvent): void {
  event.cookies.delete(CHALLENGE_COOKIE, { path: '/api/login', secure: event.url.protocol === 'https:' });
}
