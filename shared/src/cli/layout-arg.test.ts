/**
 * `kofn protect --layout` (issue #21 part 1): the text typed in a shell, parsed into groups, then held to
 * the coordinator's rules by checkLayoutRequest with the coordinator's codes.
 */
import { describe, expect, it } from 'vitest';
import { checkLayoutRequest } from '../layout.js';
import { parseLayoutSpec } from './layout-arg.js';

/** What the command sends once names are ids (here the names stand for ids). */
const request = (spec: string) => {
  const s = parseLayoutSpec(spec);
  return checkLayoutRequest({ kind: 'tree', k: s.k, groups: s.groups.map((g) => ({ kind: 'local', k: g.k, relays: g.servers, ...(g.label ? { label: g.label } : {}) })) });
};

describe('parseLayoutSpec', () => {
  it('reads K and each group (threshold, servers, optional label), spaces anywhere around the separators', () => {
    expect(parseLayoutSpec(' 2 ;cloud-a = 2 : relay-1 , relay-2,relay-3; 3:relay-4,relay-5,relay-6 ;b=2:relay-7,relay-8')).toEqual({
      k: 2,
      groups: [
        { k: 2, servers: ['relay-1', 'relay-2', 'relay-3'], label: 'cloud-a' },
        { k: 3, servers: ['relay-4', 'relay-5', 'relay-6'] },
        { k: 2, servers: ['relay-7', 'relay-8'], label: 'b' }
      ]
    });
  });

  it('a well-formed layout passes the coordinator rules', () => {
    expect(request('2; 2:a,b,c; 2:d,e,f; 2:g,h,i')).toMatchObject({
      kind: 'tree',
      k: 2,
      groups: [{ kind: 'local', k: 2, relays: ['a', 'b', 'c'] }, { relays: ['d', 'e', 'f'] }, { relays: ['g', 'h', 'i'] }]
    });
  });

  it('bad input: shape errors are LAYOUT_INVALID, naming what is wrong', () => {
    for (const bad of [
      '',
      '2',
      '2;',
      'two; 2:a,b; 2:c,d',
      '2; a,b; 2:c,d',
      '2; x:a,b; 2:c,d',
      '2; 2:a,,b; 2:c,d',
      '2; 2:a,b,; 2:c,d',
      '2; 2:a,b;; 2:c,d',
      '-1; 2:a,b; 2:c,d',
      '2; =2:a,b; 2:c,d',
      '1000; 2:a,b; 2:c,d'
    ]) {
      expect(() => parseLayoutSpec(bad), bad).toThrow(expect.objectContaining({ code: 'LAYOUT_INVALID' }));
    }
    expect(() => parseLayoutSpec('2; 2:a,b; 2:c,d'.padEnd(70_000, ' '))).toThrow(expect.objectContaining({ code: 'LAYOUT_INVALID' }));
  });

  it('bad input: the rules give their own codes (a server twice, an empty group, k_g > n_g, K > G, K < 2)', () => {
    expect(() => request('2; 2:a,b; 2:b,c')).toThrow(expect.objectContaining({ code: 'LAYOUT_RELAY_TWICE' }));
    expect(() => request('2; 2:; 2:c,d')).toThrow(expect.objectContaining({ code: 'LAYOUT_EMPTY_GROUP' }));
    expect(() => request('2; 3:a,b; 2:c,d')).toThrow(expect.objectContaining({ code: 'LAYOUT_GROUP_THRESHOLD' }));
    expect(() => request('2; 1:a,b; 2:c,d')).toThrow(expect.objectContaining({ code: 'LAYOUT_GROUP_THRESHOLD' }));
    expect(() => request('3; 2:a,b; 2:c,d')).toThrow(expect.objectContaining({ code: 'LAYOUT_TOP_THRESHOLD' }));
    expect(() => request('1; 2:a,b; 2:c,d')).toThrow(expect.objectContaining({ code: 'LAYOUT_TOP_THRESHOLD' }));
  });
});
