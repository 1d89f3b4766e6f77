/**
 * Values that begin with a dash. node:util parseArgs (strict) refuses `--revoke -AbC` as "argument is
 * ambiguous", yet kofn's own ids can begin with one: link ids are random base64url, so about one in 64 of
 * them starts with "-", and `kofn link --revoke ID`, as `kofn link --list` prints it, failed for those (a CI
 * run met one). Before parsing, a value-taking option followed by a word that is not itself one of the
 * command's options is joined to it (`--revoke=-AbC`, `-o-x`), which parseArgs reads as that option's
 * value. A lone "-" (standard input or output) already parses as a value and is left alone.
 */
import type { ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Whether `word` names one of `options` (a long option, or a cluster of short flags), as parseArgs would read it. */
function namesAnOption(word: string, options: Options): boolean {
  if (word.startsWith('--')) {
    const name = word.slice(2).split('=', 1)[0]!;
    return name === '' || name in options;
  }
  const shorts = new Set(Object.values(options).flatMap((o) => (o.short ? [o.short] : [])));
  // Short option letters are ASCII: code units are enough.
  return Array.from({ length: word.length - 1 }, (_, i) => word.charAt(i + 1)).every((c) => shorts.has(c));
}

export function attachDashValues(args: readonly string[], options: Options): string[] {
  const byShort = new Map(Object.entries(options).flatMap(([name, o]) => (o.short ? [[o.short, name] as const] : [])));
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    const next = args[i + 1];
    if (word === '--') {
      out.push(...args.slice(i));
      break;
    }
    const name = word.startsWith('--') ? word.slice(2) : word.length === 2 && word.startsWith('-') ? byShort.get(word[1]!) : undefined;
    const takesValue = name !== undefined && options[name]?.type === 'string';
    if (takesValue && next !== undefined && next.length > 1 && next.startsWith('-') && !namesAnOption(next, options)) {
      out.push(word.startsWith('--') ? `${word}=${next}` : `${word}${next}`);
      i++;
      continue;
    }
    out.push(word);
  }
  return out;
}
