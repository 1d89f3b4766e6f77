/**
 * Progress bars with speed and time left, drawn on stderr only when it is a terminal and neither `--json`
 * nor `--quiet` was given (scripts and pipes get no escape codes). cli-progress (maintained, 25M weekly
 * downloads) does the drawing and its own redraw throttling (100 ms), so a 1 MiB-chunk callback costs a
 * number update, not a terminal write.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  start(label: string, total: number): void;
  update(done: number): void;
  stop(): void;
}

const silent: Progress = { start: () => undefined, update: () => undefined, stop: () => undefined };

export function progressFor(enabled: boolean): Progress {
  if (!enabled) return silent;
  let bar: cliProgress.SingleBar | undefined;
  let t0 = 0;
  return {
    start(label, total) {
      t0 = performance.now();
      bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `${label.slice(0, 32).padEnd(32)} {bar} {percentage}% | {doneH}/{totalH} | {speed} | ETA {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: false,
          etaBuffer: 50
        },
        cliProgress.Presets.shades_classic
      );
      bar.start(Math.max(total, 1), 0, { doneH: human(0), totalH: human(total), speed: '-' });
    },
    update(done) {
      const s = (performance.now() - t0) / 1000;
      bar?.update(done, { doneH: human(done), speed: s > 0.2 ? `${human(done / s)}/s` : '-' });
    },
    stop() {
      bar?.stop();
      bar = undefined;
    }
  };
}

export function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}
