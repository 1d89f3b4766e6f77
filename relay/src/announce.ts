/**
 * Announce this relay to the coordinator and keep heartbeating, so the coordinator knows it is online
 * (it marks relays offline when heartbeats stop). Failures are retried every interval; the join secret is
 * sent only in the Authorization header and never logged.
 */
import type { RelayConfig } from './config.js';
import type { Usage } from './usage.js';

export interface Announcement {
  id: string;
  name: string;
  location: string;
  url: string;
  version: string;
  storage: string;
  freeBytes: number;
  usedBytes: number;
}

export interface AnnouncerLog {
  info: (obj: object, msg: string) => void;
  warn: (obj: object, msg: string) => void;
}

export function startAnnouncer(
  config: RelayConfig,
  describe: () => Promise<Omit<Announcement, 'freeBytes' | 'usedBytes'> & Usage>,
  log: AnnouncerLog
): { stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let announced = false;
  const controller = new AbortController();

  const beat = async (): Promise<void> => {
    try {
      const body = await describe();
      const res = await fetch(`${config.coordinator}/api/relays/announce`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${config.join_secret}` },
        body: JSON.stringify(body),
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(5000)])
      });
      if (!res.ok) {
        log.warn({ status: res.status }, 'coordinator refused announcement');
        announced = false;
      } else if (!announced) {
        announced = true;
        log.info({ coordinator: config.coordinator }, 'announced to coordinator');
      }
      await res.body?.cancel();
    } catch (err) {
      if (stopped) return;
      announced = false;
      log.warn({ err: (err as Error).message }, 'coordinator unreachable; will retry');
    } finally {
      if (!stopped) timer = setTimeout(() => void beat(), config.proxy_reconnection_interval * 1000);
    }
  };

  void beat();
  return {
    stop: () => {
      stopped = true;
      controller.abort();
      if (timer) clearTimeout(timer);
    }
  };
}
