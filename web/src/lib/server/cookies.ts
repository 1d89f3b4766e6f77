/** The session cookie: HttpOnly, SameSite=Strict, Secure whenever the app is served over TLS. */
import type { RequestEvent } from '@sveltejs/kit';
import { SESSION_COOKIE, type NewSession } from './auth.js';

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
