/**
 * Repair routes read their JSON bodies bounded (issue #13: "every read of another party's answer is
 * bounded"; the relay's own bodies are 64 KiB at most). Repair seed tokens are handed to other relays, so
 * a hostile helper relay holds a valid token for `POST /v1/repair/:fid/seed` on its peers: an endless
 * body must be refused with 413 after reading little more than the bound, not buffered whole first.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { TokenOp } from '@kofn/shared';
import { testRelay } from './testing/app.js';
import { newFileId } from './testing/chunks.js';

let t: Awaited<ReturnType<typeof testRelay>>;
beforeAll(async () => {
  t = await testRelay();
});

/** A JSON-looking body of `total` bytes, made as it is read; `pulled` counts what the relay took. */
function endlessBody(total: number) {
  const piece = new TextEncoder().encode('a'.repeat(64 * 1024));
  const state = { pulled: 0 };
  let first = true;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (state.pulled >= total) {
          controller.close();
          return;
        }
        const bytes = first ? new TextEncoder().encode('{"rid":"') : piece;
        first = false;
        state.pulled += bytes.byteLength;
        controller.enqueue(bytes);
      }
    },
    { highWaterMark: 0 }
  );
  return { stream, state };
}

const TOTAL = 64 * 1024 * 1024;

describe('repair routes bound their request bodies', () => {
  it.each<[string, TokenOp, [number, number]]>([
    ['seed', 'repair_seed', [0, 0]],
    ['start', 'repair_start', [0, 0]],
    ['collect', 'repair_collect', [0, 0]]
  ])('POST /v1/repair/:fid/%s with an endless body: 413 PAYLOAD_TOO_LARGE after reading about the bound', async (route, op, chunks) => {
    const fid = newFileId();
    const { stream, state } = endlessBody(TOTAL);
    const res = await t.app.request(
      new Request(`http://relay.test/v1/repair/${fid}/${route}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await t.signer.mint({ fid, op, chunks, ep: 0 })}`, 'content-type': 'application/json' },
        body: stream,
        duplex: 'half'
      } as RequestInit & { duplex: 'half' })
    );
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('PAYLOAD_TOO_LARGE');
    // The bound is 64 KiB; one piece past it is what a bounded reader takes before it stops.
    expect(state.pulled).toBeLessThan(1024 * 1024);
  });

  it('still reads a body within the bound (a malformed one is a 400, not a 413)', async () => {
    const fid = newFileId();
    const res = await t.app.request(`/v1/repair/${fid}/seed`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await t.signer.mint({ fid, op: 'repair_seed', chunks: [0, 0], ep: 0 })}`, 'content-type': 'application/json' },
      body: '{"rid": oops'
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
  });
});
