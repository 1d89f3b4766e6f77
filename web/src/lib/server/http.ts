/**
 * The coordinator's HTTP error boundary: every failure leaves as `{ error: { code, message } }` with a
 * status from one table; unknown errors are logged and answered with a generic 500.
 */
import { json } from '@sveltejs/kit';
import { KofnError, hasErrorCode, type ErrorCode } from '@kofn/shared';

const STATUS: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  INVALID_ARGUMENT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNAVAILABLE: 503
};

export function errorResponse(err: unknown): Response {
  if (hasErrorCode(err)) {
    return json({ error: { code: err.code, message: err.message } }, { status: STATUS[err.code] ?? 400 });
  }
  console.error('coordinator: unhandled error', err instanceof Error ? err.name : typeof err);
  return json({ error: { code: 'INTERNAL', message: 'Internal coordinator error.' } }, { status: 500 });
}

/** Runs a route body and maps thrown errors through `errorResponse`. */
export async function handle(fn: () => Promise<Response>): Promise<Response> {
  try {
    return await fn();
  } catch (err) {
    return errorResponse(err);
  }
}

/** Reads a JSON body of at most `maxBytes`, counting bytes as they arrive (Content-Length may lie). */
export async function readJson(request: Request, maxBytes: number): Promise<unknown> {
  const declared = request.headers.get('content-length');
  if (declared !== null && (!/^\d+$/.test(declared) || Number(declared) > maxBytes)) {
    throw new KofnError('PAYLOAD_TOO_LARGE', `Request body over ${maxBytes} bytes.`);
  }
  if (!request.body) throw new KofnError('BAD_REQUEST', 'Expected a JSON body.');
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      throw new KofnError('PAYLOAD_TOO_LARGE', `Request body over ${maxBytes} bytes.`);
    }
    parts.push(value);
  }
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.byteLength;
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch {
    throw new KofnError('BAD_REQUEST', 'Body is not valid UTF-8 JSON.');
  }
}
