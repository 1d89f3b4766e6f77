/**
 * Transfer groups (issue #18: a dropped folder is one transfer row): what the row counts, when it counts as
 * ended, and that "Clear finished" keeps a group whose files may still start.
 */
import { describe, expect, it } from 'vitest';
import { groupSummary, transfers } from './transfers.svelte';

describe('transfer groups', () => {
  it('counts each way its files ended, and runs until no file is left to start', () => {
    transfers.clearAll();
    const g = transfers.startGroup('Photos', 4, 4000);
    const [a, b, c] = [transfers.start('protect', 'a', 1000, g), transfers.start('protect', 'b', 1000, g), transfers.start('protect', 'c', 1000, g)];
    a.done = 1000;
    a.status = 'done';
    b.done = 200;
    b.status = 'error';
    c.done = 300;
    expect(groupSummary(g, [a, b, c])).toEqual({ done: 1, failed: 1, cancelled: 0, running: 1, bytes: 1500, status: 'running' });
    c.status = 'cancelled';
    // The fourth file has not started: still running.
    expect(groupSummary(g, [a, b, c]).status).toBe('running');
    g.finished = true;
    expect(groupSummary(g, [a, b, c])).toMatchObject({ done: 1, failed: 1, cancelled: 1, running: 0, status: 'error' });
    expect(groupSummary(g, [a]).status).toBe('done');
    expect(groupSummary(g, [a, c]).status).toBe('cancelled');
  });

  it('"Clear finished" keeps a group that may still start files, and drops it once it has ended', () => {
    transfers.clearAll();
    const g = transfers.startGroup('Folder', 2, 20);
    const first = transfers.start('protect', 'first', 10, g);
    first.status = 'done';
    const loose = transfers.start('protect', 'loose', 10);
    loose.status = 'done';
    transfers.clearFinished();
    expect(transfers.items.map((t) => t.name)).toEqual(['first']);
    expect(Object.keys(transfers.groups)).toEqual([g.id]);
    g.finished = true;
    transfers.clearFinished();
    expect(transfers.items).toEqual([]);
    expect(transfers.groups).toEqual({});
  });

  it('a file started in a group carries its id; one started alone carries none', () => {
    transfers.clearAll();
    const g = transfers.startGroup('Folder', 1, 1);
    expect(transfers.start('protect', 'in', 1, g).group).toBe(g.id);
    expect(transfers.start('protect', 'alone', 1).group).toBeUndefined();
  });
});
