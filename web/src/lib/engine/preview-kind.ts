/**
 * Which files have a preview (issue #18, engine/preview.ts), by name: images that browsers decode
 * without running anything (PNG, JPEG, WebP, GIF), plain text (txt, md, json, csv), PDF, and audio and
 * video in the containers Chromium and Firefox both play (WAV, MP3, Ogg, Opus, FLAC, M4A; WebM, MP4, Ogg
 * video). No SVG or HTML: those run script. Pure, so the file list can ask it for every row.
 */
export interface PreviewKind {
  kind: 'image' | 'text' | 'pdf' | 'audio' | 'video';
  mime: string;
}

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
  pdf: { kind: 'pdf', mime: 'application/pdf' },
  wav: { kind: 'audio', mime: 'audio/wav' },
  mp3: { kind: 'audio', mime: 'audio/mpeg' },
  ogg: { kind: 'audio', mime: 'audio/ogg' },
  oga: { kind: 'audio', mime: 'audio/ogg' },
  opus: { kind: 'audio', mime: 'audio/ogg' },
  flac: { kind: 'audio', mime: 'audio/flac' },
  m4a: { kind: 'audio', mime: 'audio/mp4' },
  webm: { kind: 'video', mime: 'video/webm' },
  mp4: { kind: 'video', mime: 'video/mp4' },
  m4v: { kind: 'video', mime: 'video/mp4' },
  ogv: { kind: 'video', mime: 'video/ogg' }
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
  'application/pdf': 'pdf',
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/wave': 'wav',
  'audio/mpeg': 'mp3',
  'audio/ogg': 'ogg',
  'audio/flac': 'flac',
  'audio/mp4': 'm4a',
  'video/webm': 'webm',
  'video/mp4': 'mp4',
  'video/ogg': 'ogv'
};

/** What a file would preview as, from its name's extension (else its MIME type); undefined: no preview. */
export function previewKind(name: string, type = ''): PreviewKind | undefined {
  const dot = name.lastIndexOf('.');
  const ext = dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
  return KINDS[ext] ?? KINDS[BY_TYPE[type.split(';')[0]!.trim().toLowerCase()] ?? ''];
}
