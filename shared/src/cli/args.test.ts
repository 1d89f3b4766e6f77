import { parseArgs, type ParseArgsConfig } from 'node:util';
import { describe, expect, it } from 'vitest';
import { attachDashValues } from './args.js';

const options: NonNullable<ParseArgsConfig['options']> = {
  revoke: { type: 'string' },
  list: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  force: { type: 'boolean', short: 'f' }
};
const parsed = (args: string[]) => parseArgs({ args: attachDashValues(args, options), options, allowPositionals: true, strict: true });

describe('values that begin with a dash', () => {
  it('an id beginning with "-" is the value of the option before it (link ids are random base64url)', () => {
    expect(() => parseArgs({ args: ['--revoke', '-AbC_9'], options, strict: true })).toThrow(/ambiguous/);
    expect(parsed(['--revoke', '-AbC_9']).values.revoke).toBe('-AbC_9');
    expect(parsed(['--revoke', '--x1']).values.revoke).toBe('--x1');
    expect(parsed(['-o', '-weird-name.bin', 'file']).values.output).toBe('-weird-name.bin');
    expect(parsed(['-o', '-weird-name.bin', 'file']).positionals).toEqual(['file']);
  });

  it("leaves the command's own options, a lone dash and everything after -- as they were", () => {
    expect(attachDashValues(['--revoke', '--json'], options)).toEqual(['--revoke', '--json']);
    expect(attachDashValues(['--revoke', '-q'], options)).toEqual(['--revoke', '-q']);
    expect(attachDashValues(['--revoke', '-qf'], options)).toEqual(['--revoke', '-qf']);
    expect(attachDashValues(['-o', '-', 'name'], options)).toEqual(['-o', '-', 'name']);
    expect(attachDashValues(['--list', '-AbC'], options)).toEqual(['--list', '-AbC']);
    expect(attachDashValues(['--', '--revoke', '-x'], options)).toEqual(['--', '--revoke', '-x']);
    expect(parsed(['-o', '-', 'name']).values.output).toBe('-');
  });
});
