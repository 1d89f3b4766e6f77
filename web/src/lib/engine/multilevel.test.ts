import { describe, expect, it } from 'vitest';
import type { Manifest } from '@kofn/shared';
import { rankTree, replaceInTree } from './multilevel';

type Placement = Manifest['placements'][number];

/** 3 groups (x 10, 20, 30) of 3 relays, 2 of 3 in each, any 2 groups; relay "g<i>r<j>". */
function manifest(): Manifest {
  const placements: Placement[] = [];
  const groups = [10, 20, 30].map((gx, gi) => ({
    kind: 'local' as const,
    x: gx,
    k: 2,
    relays: [0, 1, 2].map((j) => {
      const p = { relayId: `g${gi}r${j}`, name: `g${gi}r${j}`, url: '', location: '', x: gx + j + 1, online: true, token: '', groupX: gx };
      placements.push(p);
      return { relayId: p.relayId, x: p.x };
    })
  }));
  return { fileId: '0'.repeat(32), name: 'f', size: 0, type: '', k: 2, n: 9, chunkSize: 1, chunkCount: 0, epoch: 0, placements, layout: { kind: 'tree', k: 2, groups } };
}

const ids = (ps: Placement[]) => ps.map((p) => p.relayId);

describe('tree retrieval planning', () => {
  it('reads the K fastest groups (a group is as fast as its k_g-th relay) and the k_g fastest relays in each', () => {
    const m = manifest();
    // Group 0 has one very fast relay but its second is slow; group 2 is uniformly fast; group 1 middling.
    const times = [1, 90, 95, 20, 30, 40, 5, 6, 7];
    const active: Placement[] = [];
    const spares: Placement[] = [];
    rankTree(m, times, active, spares);
    expect(ids(active)).toEqual(['g2r0', 'g2r1', 'g1r0', 'g1r1']);
    // Spares: the active groups' other relays first, then the other group fastest first.
    expect(ids(spares)).toEqual(['g2r2', 'g1r2', 'g0r0', 'g0r1', 'g0r2']);
  });

  it('a whole group down ranks last; a failed relay is replaced within its group, then by another group', () => {
    const m = manifest();
    const times = [Infinity, Infinity, Infinity, 10, 11, 12, 1, 2, 3];
    const active: Placement[] = [];
    const spares: Placement[] = [];
    rankTree(m, times, active, spares);
    expect(ids(active)).toEqual(['g2r0', 'g2r1', 'g1r0', 'g1r1']);
    const find = (id: string) => m.placements.find((p) => p.relayId === id)!;
    expect(replaceInTree(m, active, spares, find('g1r0'))).toBe(true);
    expect(ids(active)).toEqual(['g2r0', 'g2r1', 'g1r2', 'g1r1']);
    // Group 1 has no spare left: the group leaves and group 0 comes in whole.
    expect(replaceInTree(m, active, spares, find('g1r1'))).toBe(true);
    expect(ids(active)).toEqual(['g2r0', 'g2r1', 'g0r0', 'g0r1']);
    expect(ids(spares)).toEqual(['g2r2', 'g0r2', 'g1r2']);
    expect(replaceInTree(m, active, spares, find('g0r0'))).toBe(true);
    expect(ids(active)).toEqual(['g2r0', 'g2r1', 'g0r2', 'g0r1']);
    // Now group 0 is out of spares and no third group has 2 relays left: fewer than K groups.
    expect(replaceInTree(m, active, spares, find('g0r1'))).toBe(false);
  });
});
