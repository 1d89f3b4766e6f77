/**
 * `kofn protect --layout SPEC` (issue #21 part 1, local groups; docs/multilevel.md): the text a person types
 * for a multi-level layout, parsed into the coordinator's LayoutRequest (layout.ts) with storage servers
 * still named as typed. The command turns the names into relay ids (an unknown one is UNKNOWN_SERVER) and
 * checkLayoutRequest then applies the same rules, with the same codes, as the coordinator.
 *
 * Grammar (spaces anywhere around the separators):
 *
 *     SPEC  := K ";" GROUP (";" GROUP)+
 *     GROUP := [LABEL "="] KG ":" SERVER ("," SERVER)*
 *
 * K groups of the listed ones rebuild the file, KG servers of a group rebuild that group's share. Example,
 * three groups (say one per cloud), any 2 of them, 2 of 3 servers in each:
 *
 *     --layout "2; a=2:relay-1,relay-2,relay-3; b=2:relay-4,relay-5,relay-6; c=2:relay-7,relay-8,relay-9"
 *
 * Why a small grammar of its own rather than JSON: it is typed in a shell, and `;`, `=`, `:` and `,` need
 * no escaping inside double quotes. Labels are shown in the file's details; they take no part in a check.
 */
import { KofnError } from '../errors.js';

export interface LayoutSpec {
  k: number;
  groups: Array<{ k: number; servers: string[]; label?: string }>;
}

const invalid = (message: string) => new KofnError('LAYOUT_INVALID', `--layout: ${message} (see \`kofn protect --help\`)`);

/** Longest --layout text read: 255 servers with long names fit well within it. */
const MAX_SPEC_CHARS = 64 * 1024;

function integer(text: string, what: string): number {
  const t = text.trim();
  if (!/^\d{1,3}$/.test(t)) throw invalid(`${what} expected a whole number, got ${JSON.stringify(t)}`);
  return Number(t);
}

/** Parses SPEC; shape errors are LAYOUT_INVALID, the threshold and duplicate rules are left to checkLayoutRequest. */
export function parseLayoutSpec(spec: string): LayoutSpec {
  if (spec.length > MAX_SPEC_CHARS) throw invalid(`longer than ${MAX_SPEC_CHARS} characters`);
  const parts = spec.split(';').map((p) => p.trim());
  if (parts.length < 2 || parts[0] === '') throw invalid('expected "K; KG:server,...; KG:server,..."');
  const k = integer(parts[0]!, 'the number of groups needed (before the first ";")');
  const groups = parts.slice(1).map((g, i) => {
    const where = `group ${i + 1}`;
    if (g === '') throw invalid(`${where} is empty`);
    const eq = g.indexOf('=');
    const colon = g.indexOf(':');
    if (colon < 0) throw invalid(`${where} expected "KG:server,...", got ${JSON.stringify(g)}`);
    const hasLabel = eq >= 0 && eq < colon;
    const label = hasLabel ? g.slice(0, eq).trim() : undefined;
    if (label !== undefined && (label === '' || label.length > 100)) throw invalid(`${where}: a label is 1 to 100 characters`);
    const kg = integer(g.slice(hasLabel ? eq + 1 : 0, colon), `${where}'s threshold`);
    const list = g.slice(colon + 1).trim();
    // "2:" is a group without servers: LAYOUT_EMPTY_GROUP from checkLayoutRequest, as the coordinator says it.
    const servers = list === '' ? [] : list.split(',').map((s) => s.trim());
    if (servers.some((s) => s === '')) throw invalid(`${where} names an empty server (two commas, or a comma at an end)`);
    return { k: kg, servers, ...(label === undefined ? {} : { label }) };
  });
  return { k, groups };
}
