import { describe, expect, it } from 'vitest';
import { createApp } from './app.js';
import { loadConfig } from './config.js';

const ORIGIN = 'http://127.0.0.1:8080';
const config = loadConfig(undefined, { KOFN_RELAY_NAME: 'relay-t', KOFN_RELAY_LOCATION: 'Lab', KOFN_RELAY_DATA: '/nonexistent', KOFN_WEB_ORIGINS: ORIGIN });
const app = createApp({ config, relayId: '00000000-0000-4000-8000-000000000001', usage: async () => ({ usedBytes: 5, freeBytes: 1000 }) });

describe('GET /v1/health', () => {
  it('reports name, location, version and capacity', async () => {
    const res = await app.request('/v1/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: 'relay-t', location: 'Lab', storage: 'Disk', usedBytes: 5, freeBytes: 1000, version: '0.1.0' });
  });

  it('sends security headers that forbid framing and sniffing', async () => {
    const res = await app.request('/v1/health');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });
});

describe('GET /v1/ping', () => {
  it('answers 204 with no body and no caching', async () => {
    const res = await app.request('/v1/ping');
    expect(res.status).toBe(204);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toBe('');
  });
});

describe('CORS', () => {
  it('grants the configured origin exactly', async () => {
    const res = await app.request('/v1/ping', { headers: { Origin: ORIGIN } });
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  });

  it.each(['http://evil.example', `${ORIGIN}.evil.example`, 'http://127.0.0.1:8080:80', 'null', ORIGIN.toUpperCase()])(
    'grants nothing to %s',
    async (origin) => {
      const res = await app.request('/v1/ping', { headers: { Origin: origin } });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
  );

  it('answers a preflight from the allowed origin for PUT', async () => {
    const res = await app.request('/v1/ping', {
      method: 'OPTIONS',
      headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'PUT' }
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-methods')).toContain('PUT');
  });
});

describe('unknown routes and methods', () => {
  it('answers 404 with a stable code, never HTML', async () => {
    const res = await app.request('/v1/../../etc/passwd');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'No such route.' } });
  });

  it('answers an unexpected method on a known path with a 4xx code', async () => {
    const res = await app.request('/v1/health', { method: 'POST' });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect((await res.json()) as unknown).toMatchObject({ error: { code: expect.any(String) } });
  });
});
