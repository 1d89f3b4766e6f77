import { describe, expect, it } from 'vitest';
import { previewKind } from './preview-kind';

describe('previewKind', () => {
  it('knows images, text and PDF by extension, in any case, and shows them with a fixed MIME type', () => {
    expect(previewKind('a.PNG')).toEqual({ kind: 'image', mime: 'image/png' });
    expect(previewKind('photo.jpeg')).toEqual({ kind: 'image', mime: 'image/jpeg' });
    expect(previewKind('x.webp')?.kind).toBe('image');
    expect(previewKind('x.gif')?.kind).toBe('image');
    for (const n of ['notes.txt', 'README.md', 'data.json', 'table.csv']) expect(previewKind(n)?.kind).toBe('text');
    expect(previewKind('paper.pdf')).toEqual({ kind: 'pdf', mime: 'application/pdf' });
  });

  it('knows audio and video by extension and MIME type', () => {
    expect(previewKind('tone.WAV')).toEqual({ kind: 'audio', mime: 'audio/wav' });
    for (const n of ['a.mp3', 'a.ogg', 'a.oga', 'a.opus', 'a.flac', 'a.m4a']) expect(previewKind(n)?.kind).toBe('audio');
    expect(previewKind('clip.webm')).toEqual({ kind: 'video', mime: 'video/webm' });
    for (const n of ['a.mp4', 'a.m4v', 'a.ogv']) expect(previewKind(n)?.kind).toBe('video');
    expect(previewKind('recording', 'audio/x-wav')?.kind).toBe('audio');
    expect(previewKind('recording', 'video/webm;codecs=vp8')?.kind).toBe('video');
    // Containers Chromium does not play are not offered.
    for (const n of ['a.mov', 'a.avi', 'a.mkv', 'a.wma']) expect(previewKind(n)).toBeUndefined();
  });

  it('falls back to the MIME type only when the name has no known extension', () => {
    expect(previewKind('scan', 'application/pdf')?.kind).toBe('pdf');
    expect(previewKind('photo', 'image/jpeg; charset=binary')?.kind).toBe('image');
    // The name decides when it has a known extension: a .txt claimed to be an image is text.
    expect(previewKind('a.txt', 'image/png')?.kind).toBe('text');
  });

  it('offers no preview for what could run script or is unknown', () => {
    for (const n of ['logo.svg', 'page.html', 'page.htm', 'archive.zip', '.png', 'noext', 'a.png.exe']) expect(previewKind(n)).toBeUndefined();
    expect(previewKind('x', 'image/svg+xml')).toBeUndefined();
    expect(previewKind('x', 'text/html')).toBeUndefined();
  });
});
