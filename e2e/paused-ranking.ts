/**
 * Steering the CLI's choice of relays without a timer (issue #24, "replace fixed sleeps used as synchronisation
 * with explicit control"). The CLI pings every relay of a file and reads from the fastest (shared/src/cli/
 * retrieve.ts); a relay that does not answer within PING_MS ranks last. The relays named here are paused
 * (SIGSTOP) and go on again (SIGCONT) only once the CLI has connected to each of them, its pings sent, and PING_MS
 * more have passed: their pings have then timed out, so they rank last however slow the machine is. A fixed
 * 4 s pause failed a CI run: the CLI, slow to start on a loaded machine, pinged after the relays were back.
 * Reads the CLI's sockets from /proc (Linux), as `ss -p` does.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { PING_MS } from '@kofn/shared/cli/retrieve';
import type { RelayProc } from './stack.js';

/** Past the CLI's ping timeout. */
const MARGIN_MS = 500;

/** The inodes of a process's sockets: its fds link to "socket:[inode]". */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) out.add(m[1]!);
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    // the process has exited
  }
  return out;
}

/** The remote ports of a process's TCP sockets (/proc/net/tcp{,6}: rem_address is column 3, inode column 10). */
function remotePorts(pid: number): Set<number> {
  const inodes = socketInodes(pid);
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || !inodes.has(cols[9]!)) continue;
      ports.add(parseInt(cols[2]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

export interface PausedRanking {
  /** Give to runNode's `onSpawn`: watches the CLI's connections. */
  onSpawn: (child: ChildProcess) => void;
  /** Lets the relays go on (idempotent); call in `finally`. */
  release: () => void;
}

/** Pauses `relays` now; they go on once the CLI spawned later has pinged them and its ping timeout has passed. */
export function pauseWhileRanking(relays: RelayProc[]): PausedRanking {
  for (const r of relays) process.kill(r.pid, 'SIGSTOP');
  const ports = relays.map((r) => Number(new URL(r.url).port));
  let released = false;
  let poll: NodeJS.Timeout | undefined;
  let later: NodeJS.Timeout | undefined;
  const release = () => {
    clearInterval(poll);
    clearTimeout(later);
    if (released) return;
    released = true;
    for (const r of relays) process.kill(r.pid, 'SIGCONT');
  };
  const onSpawn = (child: ChildProcess) => {
    child.once('exit', release);
    poll = setInterval(() => {
      if (child.pid === undefined) return;
      const open = remotePorts(child.pid);
      if (!ports.every((p) => open.has(p))) return;
      clearInterval(poll);
      later = setTimeout(release, PING_MS + MARGIN_MS);
    }, 50);
  };
  return { onSpawn, release };
}
