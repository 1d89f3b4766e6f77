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
