import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';

describe('loadConfig', () => {
  it('reads a Qasmat-style JSON file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kofn-relay-config-'));
    const file = join(dir, 'relay.json');
    writeFileSync(
      file,
      JSON.stringify({
        name: 'eu-1',
        location: 'Paris',
        listen: { host: '127.0.0.1', port: 9001 },
        storage: { mode: 'S3', region: 'eu-west-3', bucket_name: 'kofn', endpoint: 'http://127.0.0.1:4569', force_path_style: true },
        coordinator: 'http://127.0.0.1:8080/',
        proxy_reconnection_interval: 7,
        web_origins: ['http://127.0.0.1:8080/']
      })
    );
    const c = loadConfig(file, {});
    expect(c).toMatchObject({
      name: 'eu-1',
      listen: { host: '127.0.0.1', port: 9001 },
      storage: { mode: 'S3', region: 'eu-west-3', bucket_name: 'kofn', endpoint: 'http://127.0.0.1:4569', force_path_style: true },
      coordinator: 'http://127.0.0.1:8080',
      proxy_reconnection_interval: 7,
      web_origins: ['http://127.0.0.1:8080']
    });
  });

  it('lets the environment override the file', () => {
    const c = loadConfig(undefined, { KOFN_RELAY_PORT: '9100', KOFN_RELAY_DATA: '/srv/kofn', KOFN_WEB_ORIGINS: 'http://a,http://b' });
    expect(c.listen.port).toBe(9100);
    expect(c.storage).toEqual({ mode: 'Disk', path_to_folder: '/srv/kofn' });
    expect(c.web_origins).toEqual(['http://a', 'http://b']);
  });

  it.each([
    [{ KOFN_RELAY_PORT: '70000' }, 'listen.port'],
    [{ KOFN_RELAY_PORT: 'abc' }, 'listen.port'],
    [{ KOFN_RELAY_STORAGE: 'Tape' }, 'Valid values are Disk, S3'],
    [{ KOFN_RELAY_STORAGE: 'S3' }, 'storage.region'],
    [{ KOFN_RELAY_HEARTBEAT: '0' }, 'proxy_reconnection_interval']
  ])('rejects %j naming the field', (env, field) => {
    expect(() => loadConfig(undefined, env)).toThrow(field);
  });
});
