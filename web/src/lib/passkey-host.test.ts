import { describe, expect, it } from 'vitest';
import { passkeyHost } from './passkey-host';

describe('passkeyHost', () => {
  it('accepts host names, localhost included', () => {
    for (const h of ['localhost', 'kofn.example.org', 'vault', 'xn--bcher-kva.example']) expect(passkeyHost(h), h).toBe(true);
  });
  it('refuses IP addresses and the empty name', () => {
    for (const h of ['127.0.0.1', '10.0.0.12', '[::1]', '::1', '[2001:db8::1]', '']) expect(passkeyHost(h), h).toBe(false);
  });
});
