import { describe, expect, it } from 'vitest';
import { discardSink, discardSinkFor, safeFileName } from './sinks';

describe('safeFileName (the name a retrieved file is saved under, from its authenticated record)', () => {
  it('keeps ordinary names, Unicode included', () => {
    expect(safeFileName('report 2026.pdf')).toBe('report 2026.pdf');
    expect(safeFileName('Ünïcødé 文件.txt')).toBe('Ünïcødé 文件.txt');
  });

  it('takes out path separators, so a shared file cannot name a path', () => {
    expect(safeFileName('../../.ssh/authorized_keys')).toBe('___.._.ssh_authorized_keys');
    expect(safeFileName('..\\..\\Windows\\evil.dll')).toBe('___.._Windows_evil.dll');
    expect(safeFileName('/etc/passwd')).toBe('_etc_passwd');
  });

  it('takes out control, format and bidi characters that disguise a name', () => {
    // U+202E RIGHT-TO-LEFT OVERRIDE shows "invoice\u202Efdp.exe" as "invoiceexe.pdf".
    expect(safeFileName('invoice\u202Efdp.exe')).toBe('invoice_fdp.exe');
    expect(safeFileName('a\nb\u0000c\u2028d')).toBe('a_b_c_d');
  });

  it('makes no hidden files, no "." or "..", and no Windows-refused characters or trailing dots', () => {
    expect(safeFileName('.bashrc')).toBe('_bashrc');
    expect(safeFileName('..')).toBe('__');
    expect(safeFileName('a<b>c:d"e|f?g*h')).toBe('a_b_c_d_e_f_g_h');
    expect(safeFileName('name. . ')).toBe('name');
  });

  it('answers "download" when nothing is left, and at most 255 characters', () => {
    expect(safeFileName('   ')).toBe('download');
    expect(safeFileName('x'.repeat(300))).toHaveLength(255);
  });
});

describe('discardSink (checking a file without keeping it)', () => {
  it('takes every chunk, keeps no reference and writes nothing anywhere', async () => {
    const sink = discardSink();
    const chunk = new Uint8Array([1, 2, 3, 4]);
    await sink.write(chunk);
    // The caller zeroes and reuses its buffer (Sink.write): the sink never looks at it again.
    chunk.fill(0);
    await sink.write(new Uint8Array(10));
    await sink.close();
    expect(sink.written()).toBe(14);
    await expect(sink.abort(new Error('x'))).resolves.toBeUndefined();
  });

  it('is what discardSinkFor opens, whatever the file is called', async () => {
    const sink = await discardSinkFor({ name: '../../etc/passwd', size: 3, type: 'text/plain' });
    await sink.write(new Uint8Array(3));
    await expect(sink.close()).resolves.toBeUndefined();
  });
});
