import { describe, expect, it } from 'vitest';
import { KofnError } from '@kofn/shared';
import { errorResponse, readJson } from './http.js';

function req(body: BodyInit | null, headers: Record<string, string> = {}): Request {
  return new Request('http://127.0.0.1/x', { method: 'POST', body, headers, duplex: 'half' } as RequestInit);
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('readJson', () => {
  it('parses a small JSON body', async () => {
    expect(await readJson(req('{"a":1}'), 100)).toEqual({ a: 1 });
  });

  it('refuses a declared length over the limit before reading', async () => {
    expect(await codeOf(readJson(req('{}', { 'content-length': '101' }), 100))).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses a streamed body that grows past the limit whatever Content-Length said', async () => {
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(64).fill(0x20));
      }
    });
    expect(await codeOf(readJson(req(stream), 100))).toBe('PAYLOAD_TOO_LARGE');
  });

  it.each([['not json'], ['{"a":'], [new Uint8Array([0x22, 0xff, 0x22])]])('answers BAD_REQUEST for malformed body %#', async (body) => {
    expect(await codeOf(readJson(req(body as BodyInit), 100))).toBe('BAD_REQUEST');
  });

  it('answers BAD_REQUEST for a missing body', async () => {
    expect(await codeOf(readJson(req(null), 100))).toBe('BAD_REQUEST');
  });
});

describe('errorResponse', () => {
  it('maps a coded error to its status and body', async () => {
    const res = errorResponse(new KofnError('UNAUTHORIZED', 'nope'));
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'nope' } });
  });

  it('hides unknown errors behind a generic 500', async () => {
    const res = errorResponse(new Error('secret internals'));
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).not.toContain('secret internals');
  });
});
