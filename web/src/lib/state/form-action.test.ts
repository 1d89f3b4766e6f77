import { describe, expect, it } from 'vitest';
import { KofnError } from '@kofn/shared';
import { FormAction, explain } from './form-action.svelte';

describe('FormAction', () => {
  it('is busy while the work runs, clears old texts, and answers the work result', async () => {
    const form = new FormAction();
    form.refuse('old error');
    let release!: () => void;
    const running = form.run(
      () =>
        new Promise<string>((r) => {
          release = () => {
            r('done');
          };
        })
    );
    expect(form.busy).toBe(true);
    expect(form.error).toBe('');
    release();
    expect(await running).toBe('done');
    expect(form.busy).toBe(false);
    expect(form.error).toBe('');
  });

  it('shows a failure in plain words, never throws, and tells the form which failure it was', async () => {
    const form = new FormAction(['WEAK_PASSWORD']);
    const seen: unknown[] = [];
    const weak = new KofnError('WEAK_PASSWORD', 'This new password is among the most common passwords.');
    const answer = await form.run<string>(
      () => Promise.reject(weak),
      (err) => {
        seen.push(err);
      }
    );
    expect(answer).toBeUndefined();
    expect(form.error).toBe('This new password is among the most common passwords.');
    expect(seen).toEqual([weak]);
    expect(form.busy).toBe(false);
    // A code not in the precise list gets the app's own words, whatever the server said.
    await form.run(() => Promise.reject(new KofnError('INTERNAL', 'stack trace at db.ts:12')));
    expect(form.error).toBe('Something went wrong. Please try again.');
    form.message = 'Saved.';
    form.clear();
    expect([form.message, form.error]).toEqual(['', '']);
  });

  it('takes precise codes as a list or a rule, and shows nothing for an abort', () => {
    const expired = new KofnError('SECOND_FACTOR_EXPIRED', 'Sign in again: the code step expired.');
    expect(explain(expired, (c) => c.startsWith('SECOND_FACTOR_'))).toBe('Sign in again: the code step expired.');
    expect(explain(expired, ['WEAK_PASSWORD'])).not.toBe('');
    expect(explain(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toBe('');
  });
});
