/**
 * A private stack with one relay behind a HostileProxy (e2e/hostile-proxy.ts): the relay listens on a free
 * loopback port and its public URL is the proxy's, so the coordinator hands browsers the proxy's address and
 * every share request to that relay goes through it (slowed, stalled, reset... as the test sets the proxy).
 * One place for the setup that hostile-relay, late-failure and token-lifetime each spelled out, and for the
 * "make the browser pick the proxied relay" step two of them repeated; new specs of the same kind use it too.
 */
import type { Page } from '@playwright/test';
import { HostileProxy, freePort } from './hostile-proxy.js';
import { startStack, type RunningStack, type StackOptions } from './stack.js';

export interface ProxiedStack {
  stack: RunningStack;
  proxy: HostileProxy;
  /** Stops the stack and then the proxy (by PID / closing its server); safe after a failed start. */
  stop: () => Promise<void>;
}

/**
 * Starts the proxy, then the stack with `proxied` (default relay-2) behind it. Other relays are reached
 * directly. The proxy's url is among `stack.relays`.
 */
export async function startProxiedStack(opts: StackOptions & { proxied?: string }): Promise<ProxiedStack> {
  const { proxied = 'relay-2', ...stackOpts } = opts;
  const relayPort = await freePort();
  const proxy = new HostileProxy({ host: '127.0.0.1', port: relayPort });
  await proxy.start();
  let stack: RunningStack;
  try {
    stack = await startStack({
      ...stackOpts,
      relayEnv: { ...stackOpts.relayEnv, [proxied]: { ...stackOpts.relayEnv?.[proxied], KOFN_RELAY_PORT: String(relayPort), KOFN_RELAY_PUBLIC_URL: proxy.url } }
    });
  } catch (err) {
    await proxy.stop();
    throw err;
  }
  if (!stack.relays.includes(proxy.url)) {
    await stack.stop();
    await proxy.stop();
    throw new Error(`the stack did not list ${proxied} at the proxy's address ${proxy.url}: ${stack.relays.join(', ')}`);
  }
  return {
    stack,
    proxy,
    stop: async () => {
      await stack.stop();
      await proxy.stop();
    }
  };
}

/**
 * The browser pings every relay and reads from the k it ranks first: the relays not behind the proxy fail
 * their pings (503) in this page, so their round-trip time is Infinity and the proxied relay, the only one
 * with a measured time, is ranked first (retrieve.ts sorts by ping; a failed ping only ranks a relay last,
 * it is still read from when needed). Not by delaying the others' pings: relays send Timing-Allow-Origin,
 * so the ping is timed from requestStart, after a delay added by a route. Clears the page's earlier routes first.
 */
export async function preferProxiedRelay({ stack, proxy }: Pick<ProxiedStack, 'stack' | 'proxy'>, page: Page): Promise<void> {
  await page.unrouteAll({ behavior: 'ignoreErrors' });
  for (const url of stack.relays.filter((u) => u !== proxy.url)) {
    await page.route(`${url}/v1/ping`, (route) => route.fulfill({ status: 503 }));
  }
}
