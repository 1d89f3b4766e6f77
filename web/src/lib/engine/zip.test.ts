import { describe, expect, it } from 'vitest';
import { ZipNames } from './zip';

describe('ZipNames (each entry path once in a zip)', () => {
  it('keeps distinct names, and numbers a repeated one before its extension', () => {
    const n = new ZipNames();
    expect(n.take(['Photos'], 'beach.jpg')).toBe('Photos/beach.jpg');
    expect(n.take(['Photos'], 'beach.jpg')).toBe('Photos/beach (2).jpg');
    expect(n.take(['Photos'], 'beach.jpg')).toBe('Photos/beach (3).jpg');
    expect(n.take([], 'beach.jpg')).toBe('beach.jpg');
  });

  it('treats names differing only in case as one (a case-insensitive disk would overwrite one)', () => {
    const n = new ZipNames();
    expect(n.take([], 'Report.PDF')).toBe('Report.PDF');
    expect(n.take([], 'report.pdf')).toBe('report (2).pdf');
  });

  it('makes folder names safe as file names are, and numbers folders without splitting an extension', () => {
    const n = new ZipNames();
    expect(n.take(['..', 'a/b'], 'x')).toBe('__/a_b/x');
    expect(n.take([], 'my.photos', true)).toBe('my.photos');
    expect(n.take([], 'my.photos', true)).toBe('my.photos (2)');
  });
});
