import { describe, expect, it } from 'vitest';
import { parseScrape } from './prometheus-text.js';

describe('parseScrape (the exposition reader the ops tests use)', () => {
  it('reads counters, labels with escapes, histograms by their count, and NaN/Inf in any case', () => {
    const s = parseScrape(
      [
        '# HELP a_total A counter.',
        '# TYPE a_total counter',
        'a_total{route="/x",q="say \\"hi\\""} 2',
        'a_total{route="/y"} 3',
        '# TYPE h_seconds histogram',
        'h_seconds_bucket{le="1",op="get"} 1',
        'h_seconds_bucket{le="+Inf",op="get"} 4',
        'h_seconds_sum{op="get"} 2.5',
        'h_seconds_count{op="get"} 4',
        '# TYPE g gauge',
        'g Nan',
        ''
      ].join('\n')
    );
    expect(s.names).toEqual(new Set(['a_total', 'h_seconds', 'g']));
    expect(s.total('a_total')).toBe(5);
    expect(s.total('a_total', { q: 'say "hi"' })).toBe(2);
    expect(s.total('h_seconds', { op: 'get' })).toBe(4);
    expect(() => s.total('missing')).toThrow(/not in the exposition/);
  });

  it('refuses malformed lines instead of skipping them', () => {
    expect(() => parseScrape('# TYPE a counter\na{x=1} 2\n')).toThrow(/malformed labels/);
    expect(() => parseScrape('a 2 3 4\n')).toThrow(/malformed exposition line/);
    expect(() => parseScrape('a two\n')).toThrow(/malformed value/);
    expect(() => parseScrape('# nonsense\n')).toThrow(/malformed comment/);
  });
});
