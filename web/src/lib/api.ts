/**
 * The browser's client for the coordinator API: JSON in and out, the CSRF token on every state-changing
 * request, and errors as `ApiError` with the server's stable code.
 */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: string,
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;

export function setCsrfToken(token: string | null | undefined): void {
  csrfToken = token ?? null;
}

/**
 * Why a request reached no coordinator (issue #16: "you are offline" is not "the server is unreachable"):
 * the browser knows when it has no network at all (navigator.onLine false); otherwise the network is there
 * and the kofn server is not answering (stopped, restarting, or a proxy in front of it says so).
 */
export function unreachable(): ApiError {
  if (typeof navigator !== 'undefined' && !navigator.onLine) return new ApiError('OFFLINE', 'You are offline.', 0);
  return new ApiError('COORDINATOR_UNREACHABLE', 'The kofn server is not reachable.', 0);
}

/** What a reverse proxy answers for a coordinator that is down (its own page, not the API's JSON). */
const PROXY_DOWN = new Set([502, 503, 504]);

export async function api<T>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch {
    // fetch rejects only when no answer came at all (no network, connection refused or reset).
    throw unreachable();
  }
  const data = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
  if (!res.ok && !data.error && PROXY_DOWN.has(res.status)) throw unreachable();
  if (!res.ok) throw new ApiError(data.error?.code ?? 'INTERNAL', data.error?.message ?? `Request failed (${res.status}).`, res.status);
  return data as T;
}
