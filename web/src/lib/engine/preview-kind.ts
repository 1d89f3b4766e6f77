/**
 * Which files have a preview (issue #18, engine/preview.ts), by name: images that browsers decode
 * without running anything (PNG, JPEG, WebP, GIF), plain text (txt, md, json, csv) and PDF. No SVG or
 * HTML: those run script. Pure, so the file list can ask it for every row.
 */
export type PreviewKind = { kind: 'image'; mime: string } | { kind: 'text'; mime: string } | { kind: 'pdf'; mime: string };

const KINDS: Record<string, PreviewKind> = {
  png: { kind: 'image', mime: 'image/png' },
  jpg: { kind: 'image', mime: 'image/jpeg' },
  jpeg: { kind: 'image', mime: 'image/jpeg' },
  webp: { kind: 'image', mime: 'image/webp' },
  gif: { kind: 'image', mime: 'image/gif' },
  txt: { kind: 'text', mime: 'text/plain' },
  md: { kind: 'text', mime: 'text/markdown' },
  json: { kind: 'text', mime: 'application/json' },
  csv: { kind: 'text', mime: 'text/csv' },
  pdf: { kind: 'pdf', mime: 'application/pdf' }
};
const BY_TYPE: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'text/plain': 'txt',
  'text/markdown': 'md',
  'application/json': 'json',
  'text/csv': 'csv',
  'application/pdf': 'pdf'
};

/** What a file would preview as, from its name's extension (else its MIME type); undefined: no preview. */
export function previewKind(name: string, type = ''): PreviewKind | undefined {
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
  return KINDS[ext] ?? KINDS[BY_TYPE[type.split(';')[0]!.trim().toLowerCase()] ?? ''];
}
