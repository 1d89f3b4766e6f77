/**
 * A free loopback port for a server a test or the launcher is about to start, chosen below the kernel's
 * ephemeral range (Linux: /proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default).
 *
 * Why not `listen(0)`, then close, then hand the number on: in the gap before the new server binds it, the
 * kernel may give that same number to anything else that asks for an ephemeral port, as the source port of
 * an outgoing connection or another `listen(0)`. With the coordinator suite, Chromium and the e2e stacks all
 * busy on loopback at once, a CI run lost two stacks to it ("relay-1 exited during start", EADDRINUSE). The
 * kernel never hands out a port below its range on its own, so a random free one there can only be taken by
 * another caller of this function picking the same number in that gap.
 */
import { randomBelow } from '@kofn/shared';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const LOW = 10_000;

/** The first port of the kernel's ephemeral range (32768 where it cannot be read). */
function ephemeralLow() {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return Number.isInteger(low) && low > 0 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/** Whether `port` can be bound on `host` right now. */
export function portIsFree(port, host = '127.0.0.1') {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => res(true)));
  });
}

/**
 * A port p such that p..p+count-1 are all free on `host` now, below the ephemeral range.
 * Falls back to the kernel's choice (`listen(0)`, count 1 only) when that range is too small to pick from.
 */
export async function freePort(count = 1, host = '127.0.0.1') {
  const high = ephemeralLow() - count;
  if (high - LOW < 1000) {
    if (count !== 1) throw new Error('no port range below the ephemeral range to pick a block from');
    return new Promise((res, rej) => {
      const srv = createServer();
      srv.once('error', rej);
      srv.listen(0, host, () => {
        const { port } = srv.address();
        srv.close(() => res(port));
      });
    });
  }
  for (let attempt = 0; attempt < 100; attempt++) {
    const base = LOW + randomBelow(high - LOW);
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portIsFree(p, host);
    if (ok) return base;
  }
  throw new Error('no free loopback port found');
}
