import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { throttleRuns } from './throttle-runs';

/** A task whose runs are counted and end only when the test says so. */
function controlled() {
  const ends: Array<() => void> = [];
  let started = 0;
  const task = () => {
    started += 1;
    return new Promise<void>((r) => ends.push(r));
  };
  return { task, ends, started: () => started };
}

describe('throttleRuns', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs the first request at once', async () => {
    const c = controlled();
    const t = throttleRuns(c.task, 1000);
    let done = false;
    void t.request().then(() => (done = true));
    expect(c.started()).toBe(1);
    c.ends[0]!();
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
  });

  it('never runs two at once, and a burst during a run shares one trailing run after the period', async () => {
    const c = controlled();
    const t = throttleRuns(c.task, 1000);
    void t.request();
    const burst = Array.from({ length: 50 }, () => t.request());
    let served = 0;
    for (const p of burst) void p.then(() => (served += 1));
    expect(c.started()).toBe(1);
    await vi.advanceTimersByTimeAsync(300);
    c.ends[0]!();
    await vi.advanceTimersByTimeAsync(0);
    // The burst came after the first run started: it is not served by it.
    expect(served).toBe(0);
    expect(c.started()).toBe(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(c.started()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.started()).toBe(2);
    c.ends[1]!();
    await vi.advanceTimersByTimeAsync(0);
    expect(served).toBe(50);
    // Nothing more was asked for: no further run.
    await vi.advanceTimersByTimeAsync(5000);
    expect(c.started()).toBe(2);
  });

  it('runs at most once a period under requests every 10 ms, and the last request is always served', async () => {
    let runs = 0;
    const t = throttleRuns(async () => void (runs += 1), 1000);
    let last: Promise<void> = Promise.resolve();
    for (let i = 0; i < 500; i++) {
      last = t.request();
      await vi.advanceTimersByTimeAsync(10);
    }
    // 5 s of requests: a run at once and then one a second at most.
    expect(runs).toBeGreaterThanOrEqual(5);
    expect(runs).toBeLessThanOrEqual(6);
    let served = false;
    void last.then(() => (served = true));
    await vi.advanceTimersByTimeAsync(1000);
    expect(served).toBe(true);
  });

  it('a failing run still serves its requests, and later requests run again', async () => {
    let runs = 0;
    const t = throttleRuns(async () => {
      runs += 1;
      throw new Error('refresh failed');
    }, 100);
    await expect(t.request()).resolves.toBeUndefined();
    const again = t.request();
    await vi.advanceTimersByTimeAsync(100);
    await expect(again).resolves.toBeUndefined();
    expect(runs).toBe(2);
  });

  it('settled waits for the runs asked for so far and asks for none more', async () => {
    const c = controlled();
    const t = throttleRuns(c.task, 1000);
    await expect(t.settled()).resolves.toBeUndefined();
    expect(c.started()).toBe(0);
    void t.request();
    void t.request();
    let settled = false;
    void t.settled().then(() => (settled = true));
    c.ends[0]!();
    await vi.advanceTimersByTimeAsync(0);
    // The second request is still to be served (by a run a period later).
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(c.started()).toBe(2);
    c.ends[1]!();
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(true);
    await vi.advanceTimersByTimeAsync(5000);
    expect(c.started()).toBe(2);
  });

  it('spaces runs by `spacing` times the last run’s duration when that is longer than the period', async () => {
    const c = controlled();
    const t = throttleRuns(c.task, 1000, 4);
    void t.request();
    // The first run takes 600 ms (a busy coordinator): the next waits 4 × 600 = 2,400 ms, not 1,000.
    await vi.advanceTimersByTimeAsync(600);
    void t.request();
    c.ends[0]!();
    await vi.advanceTimersByTimeAsync(2399);
    expect(c.started()).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.started()).toBe(2);
    // A quick run (100 ms) brings the period back: 1,000 ms, as 4 × 100 is less.
    void t.request();
    await vi.advanceTimersByTimeAsync(100);
    c.ends[1]!();
    await vi.advanceTimersByTimeAsync(999);
    expect(c.started()).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.started()).toBe(3);
    c.ends[2]!();
  });
});
