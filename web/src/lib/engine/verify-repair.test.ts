import { describe, expect, it } from 'vitest';
import { KofnError } from '@kofn/shared';
import type { RetrieveOptions, RetrieveResult, SinkFor } from './retrieve';
import { groupsOf, outcomeOf, reportOf, verifyRepaired } from './verify-repair';

const [A, B, C] = ['relay-a', 'relay-b', 'relay-c'];

describe('groupsOf', () => {
  it('cuts the repaired shares into groups of at most k, in order', () => {
    expect(groupsOf([A], 2)).toEqual([[A]]);
    expect(groupsOf([A, B, C], 2)).toEqual([[A, B], [C]]);
    expect(groupsOf([A, B, C], 3)).toEqual([[A, B, C]]);
  });
});

describe('outcomeOf (what a retrieval through a group says about its shares)', () => {
  it('verified only when no share of the group sent bad data or failed to deliver', () => {
    expect(outcomeOf([A], { size: 10, badRelays: [], unreachable: [], readWhole: [A, B] })).toEqual({ ok: true, relayIds: [A] });
    // Another relay failing does not concern the group: it was replaced, the group's shares served every chunk.
    expect(outcomeOf([A], { size: 10, badRelays: [C], unreachable: [B], readWhole: [A] })).toEqual({ ok: true, relayIds: [A] });
  });

  it('learns nothing of a share the retrieval did not read for every chunk, though it succeeded (a tree file read through other groups)', () => {
    expect(outcomeOf([A], { size: 10, badRelays: [], unreachable: [], readWhole: [B, C] })).toEqual({ unchecked: true, relayIds: [A], code: 'NOT_READ' });
    expect(outcomeOf([A, B], { size: 10, badRelays: [], unreachable: [], readWhole: [A, C] })).toEqual({ unchecked: true, relayIds: [A, B], code: 'NOT_READ' });
  });

  it('names the group’s shares that failed authentication, whether the retrieval then succeeded or not', () => {
    expect(outcomeOf([A, B], { size: 10, badRelays: [B, C], unreachable: [], readWhole: [A] })).toEqual({ ok: false, relayIds: [A, B], badRelayIds: [B] });
    expect(outcomeOf([A], { code: 'NOT_ENOUGH_SHARES', message: 'x', badRelays: [A], unreachable: [] })).toEqual({ ok: false, relayIds: [A], badRelayIds: [A] });
  });

  it('learns nothing when a share of the group did not deliver, or the retrieval failed without naming one', () => {
    expect(outcomeOf([A], { size: 10, badRelays: [], unreachable: [A], readWhole: [] })).toEqual({ unchecked: true, relayIds: [A], code: 'RELAYS_OFFLINE' });
    expect(outcomeOf([A], { code: 'AUTH_FAILED', message: 'x', badRelays: [], unreachable: [] })).toEqual({ unchecked: true, relayIds: [A], code: 'AUTH_FAILED' });
  });
});

describe('reportOf', () => {
  it('reports successes and failures at the epoch checked, nothing for an unchecked group', () => {
    expect(reportOf(3, { ok: true, relayIds: [A] })).toEqual({ epoch: 3, relayIds: [A], ok: true });
    expect(reportOf(0, { ok: false, relayIds: [A, B], badRelayIds: [B] })).toEqual({ epoch: 0, relayIds: [A, B], ok: false, badRelayIds: [B] });
    expect(reportOf(0, { unchecked: true, relayIds: [A], code: 'RELAYS_OFFLINE' })).toBeUndefined();
  });
});

describe('verifyRepaired', () => {
  it('reads each group first, into a sink that keeps nothing, one retrieval at a time', async () => {
    const calls: Array<{ prefer: readonly string[] | undefined; kept: number }> = [];
    let inFlight = 0;
    const retrieve = async (_id: string, sinkFor: SinkFor, opts: RetrieveOptions = {}): Promise<RetrieveResult> => {
      inFlight++;
      expect(inFlight).toBe(1);
      const sink = await sinkFor({ name: 'f', size: 4, type: '' });
      await sink.write(new Uint8Array([9, 9, 9, 9]));
      await sink.close();
      calls.push({ prefer: opts.prefer, kept: 'written' in sink ? (sink as { written: () => number }).written() : -1 });
      inFlight--;
      return { size: 4, badRelays: opts.prefer?.includes(C) ? [C] : [], unreachable: [], readWhole: [...(opts.prefer ?? [])] };
    };
    const out = await verifyRepaired('f', { epoch: 0, relayIds: [A, B, C] }, { k: 2, retrieve });
    expect(calls).toEqual([
      { prefer: [A, B], kept: 4 },
      { prefer: [C], kept: 4 }
    ]);
    expect(out).toEqual([
      { ok: true, relayIds: [A, B] },
      { ok: false, relayIds: [C], badRelayIds: [C] }
    ]);
  });

  it('turns a failed retrieval into an outcome, and passes a cancellation on', async () => {
    const failing = async (): Promise<RetrieveResult> => {
      throw Object.assign(new Error('x'), { code: 'RELAYS_OFFLINE', badRelays: [], unreachable: [A] });
    };
    expect(await verifyRepaired('f', { epoch: 0, relayIds: [A] }, { k: 2, retrieve: failing })).toEqual([{ unchecked: true, relayIds: [A], code: 'RELAYS_OFFLINE' }]);
    const abort = new AbortController();
    abort.abort();
    const cancelled = async (): Promise<RetrieveResult> => {
      throw new KofnError('CANCELLED', 'stopped');
    };
    await expect(verifyRepaired('f', { epoch: 0, relayIds: [A] }, { k: 2, retrieve: cancelled, signal: abort.signal })).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});
