import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeDatabases } from './db/testing.js';
import type { Database } from './db/index.js';
import { relays } from './db/schema.js';
import { originsOf, relayOrigins, withConnectSources } from './csp.js';

const BUILT = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'sha256-abc='; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

describe('connect-src for the registered relays', () => {
  it('adds relay origins to connect-src only', () => {
    const out = withConnectSources(BUILT, ['http://127.0.0.1:4001', 'https://relay.example']);
    expect(out).toBe(
      "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'sha256-abc='; connect-src 'self' http://127.0.0.1:4001 https://relay.example; img-src 'self' data:; frame-ancestors 'none'"
    );
    expect(withConnectSources(BUILT, [])).toBe(BUILT);
  });

  it('keeps origins only: no paths, no other schemes, nothing that could end the directive', () => {
    expect(
      originsOf([
        'https://relay.example/some/path?q=1',
        'https://RELAY.example:443/',
        'http://127.0.0.1:4001/',
        'http://127.0.0.1:4001/again',
        'javascript:alert(1)',
        'data:text/plain,x',
        'ftp://relay.example',
        'not a url',
        "https://evil.example'; script-src *",
        'http://[::1]:4002/'
      ])
    ).toEqual(['http://127.0.0.1:4001', 'https://relay.example']);
    // A host that URL parsing keeps but CSP would misread is dropped, not quoted.
    expect(originsOf(['https://a_b.example'])).toEqual([]);
  });
});

describeDatabases('relay origins on $name', ({ open }) => {
  let database: Database & { drop: () => Promise<void> };
  beforeAll(async () => {
    database = await open();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('lists the registered relays, online or not', async () => {
    expect(await relayOrigins(database.db)).toEqual([]);
    const base = { location: 'here', version: '1', storage: 'disk', freeBytes: 1, usedBytes: 0, lastHeartbeat: new Date(0) };
    await database.db.insert(relays).values([
      { ...base, id: 'r1', name: 'one', url: 'https://one.example:8443' },
      { ...base, id: 'r2', name: 'two', url: 'http://127.0.0.1:4001' },
      { ...base, id: 'r3', name: 'three', url: 'https://one.example:8443/' }
    ]);
    expect(await relayOrigins(database.db)).toEqual(['http://127.0.0.1:4001', 'https://one.example:8443']);
  });
});
