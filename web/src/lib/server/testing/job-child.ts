/**
 * A coordinator in a process of its own, for kill -9 tests (coordinator-crash.test.ts): it opens the
 * suite's PostgreSQL database (argv: url, step bytes), claims the one due job with the runner's 60 s lease
 * and runs it (a renewal, its old epoch's drop, a replacement, a drain move or a repair) with the
 * coordinator's own handler code, walking the file in small ranges; the test watches the relays' folders
 * and kills it at a recorded point.
 * Run with tsx. Never part of the product.
 */
import { resolve } from 'node:path';
import { openDatabase } from '../db/index.js';
import { ensureSigningKey } from '../signing-keys.js';
import { claim, complete } from '../jobs.js';
import { repairShare } from '../repair.js';
import { DROP_JOB, renewOnce, renewalHandlers } from '../renewal.js';
import { REPLACE_JOB, replaceOnce } from '../renewal-replace.js';
import { MOVE_JOB, moveShare } from '../relay-lifecycle.js';

const [url, stepRaw] = process.argv.slice(2);
const stepBytes = Number(stepRaw);
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
// Named, so the test can see when the killed process's database sessions are gone.
const named = new URL(url!);
named.searchParams.set('application_name', 'doomed-coordinator');
const database = await openDatabase({ url: named.toString(), migrationsFolder: resolve(import.meta.dirname, '../../../../drizzle') });
const key = await ensureSigningKey(database.db);
const timeouts = { headersMs: 10_000, putHeadersMs: 10_000, idleMs: 10_000, totalMs: 60_000 };
const job = await claim(database.db, 'doomed-coordinator', 60_000);
if (!job) {
  say({ event: 'no-job' });
  process.exit(2);
}
say({ event: 'claimed', kind: job.kind });
const payload = job.payload as Record<string, unknown>;
if (job.kind === 'repair-share') {
  await repairShare(database.db, key, String(payload.fileId), String(payload.relayId), timeouts, new Date(), job, stepBytes);
} else if (job.kind === REPLACE_JOB) {
  await replaceOnce({ db: database.db, key, timeouts, stepBytes }, { fileId: String(payload.fileId), from: String(payload.from), to: String(payload.to) }, job);
} else if (job.kind === DROP_JOB) {
  // The drop of a renewed file's old epoch, after the grace period (the phase test makes it due at once).
  await renewalHandlers({ db: database.db, key, timeouts, stepBytes })[DROP_JOB]!(payload, job);
} else if (job.kind === MOVE_JOB) {
  await moveShare({ db: database.db, key, timeouts, offlineAfterMs: 3_600_000 }, String(payload.fileId), String(payload.relayId), job);
} else {
  await renewOnce({ db: database.db, key, timeouts, stepBytes }, String(payload.fileId), Number(payload.epoch), job);
}
await complete(database.db, job);
say({ event: 'done' });
await database.close();
