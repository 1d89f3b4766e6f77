/**
 * A row the database must have answered: the one an INSERT or UPDATE ... RETURNING gave back, or a row read
 * inside the transaction that just wrote or locked it. `const [row] = ...` is typed `T | undefined`
 * (noUncheckedIndexedAccess); a missing row here is a bug, reported as INTERNAL rather than a TypeError.
 */
import { KofnError } from '@kofn/shared';

export function present<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new KofnError('INTERNAL', `The database did not return ${what}.`);
  return value;
}
