/**
 * `@kofn/shared/testing` (parseScrape):
 * Reads a Prometheus text exposition (format 0.0.4, https://prometheus.io/docs/instrumenting/exposition_formats/)
 * in tests, strictly: a line that is neither a comment nor `name{labels} value` fails the test, so a malformed
 * exposition cannot pass by a lucky regex. Hand-written because the one npm parser (parse-prometheus-text-format
 * 1.1.1) drops a histogram's labels and counts when `le` is not the last label, which is prom-client's order.
 */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  /** Every family named by a `# TYPE` line. */
  names: Set<string>;
  samples: Sample[];
  /**
   * Sum of the samples of `name` whose labels include `match`; for a histogram, of its `_count` samples
   * (how many observations).
   */
  total: (name: string, match?: Record<string, string>) => number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;

function parseLabels(raw: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  let end = 0;
  for (let m = LABEL.exec(raw); m; m = LABEL.exec(raw)) {
    labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    end = LABEL.lastIndex;
  }
  if (end !== raw.length) throw new Error(`malformed labels in exposition line: ${line}`);
  return labels;
}

export function parseScrape(text: string): Scrape {
  const names = new Set<string>();
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (t) {
        names.add(t[1]!);
        types.set(t[1]!, t[2]!);
      } else if (!line.startsWith('# HELP ')) throw new Error(`malformed comment in exposition: ${line}`);
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`malformed exposition line: ${line}`);
    // Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case (prom-client writes `Nan`).
    const raw = m[3]!.toLowerCase();
    const value = raw === '+inf' || raw === 'inf' ? Infinity : raw === '-inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && raw !== 'nan') throw new Error(`malformed value in exposition line: ${line}`);
    samples.push({ name: m[1]!, labels: m[2] ? parseLabels(m[2], line) : {}, value });
  }
  return {
    names,
    samples,
    total: (name, match = {}) => {
      const type = types.get(name);
      if (!type) throw new Error(`metric ${name} is not in the exposition`);
      const sampleName = type === 'histogram' || type === 'summary' ? `${name}_count` : name;
      return samples.filter((s) => s.name === sampleName && Object.entries(match).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
    }
  };
}
