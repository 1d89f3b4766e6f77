/**
 * renewalStates answers for lists longer than one statement's bind parameters allow (65,535 on PostgreSQL
 * and PGlite): the file list of a person with 100,000 files used to fail whole on it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { randomHex } from '@kofn/shared';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { jobs } from './db/schema.js';
import { RENEW_JOB, renewalStates } from './renewal.js';

describeDatabases('renewal states of 70,000 files on $name', (target) => {
  let db: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    db = await target.open();
  }, 120_000);
  afterAll(async () => {
    await db.drop();
  });

  it('answers every file in one call, a pending renewal of the last one included', async () => {
    const list = Array.from({ length: 70_000 }, () => ({ id: randomHex(16), epoch: 0 }));
    const last = list[list.length - 1]!;
    await db.db.insert(jobs).values({ kind: RENEW_JOB, key: `${last.id}:0`, payload: {}, status: 'pending' });
    const states = await renewalStates(db.db, list);
    expect(states.get(last.id)).toEqual({ state: 'in_progress' });
    expect(states.size).toBe(1);
  }, 120_000);
});
