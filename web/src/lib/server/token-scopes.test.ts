/**
 * API token scopes (issue #19): the table names every method of every API route (read from the route
 * files themselves, so a new route fails here until it is given a scope), each scope opens exactly the
 * routes that need it, and the scopes asked for at creation are checked. The same table is exercised
 * over HTTP against the built coordinator in e2e/tests/api-tokens.spec.ts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROUTE_SCOPES, SCOPES, checkScope, needOf, parseScopes, type Scope } from './token-scopes.js';

const API = join(import.meta.dirname, '../../routes/api');

/** Every `+server.ts` under routes/api, as (route id, exported methods). */
function routeFiles(dir = API): Array<[string, string[]]> {
  const out: Array<[string, string[]]> = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...routeFiles(p));
    else if (name === '+server.ts') {
      const id = '/api' + (relative(API, dir) ? '/' + relative(API, dir).split(sep).join('/') : '');
      const methods = [...readFileSync(p, 'utf8').matchAll(/^export (?:const|async function) (GET|POST|PUT|PATCH|DELETE)\b/gm)].map((m) => m[1]!);
      out.push([id, methods.sort()]);
    }
  }
  return out;
}

const codeOf = (fn: () => void): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
};

describe('API token scopes', () => {
  it('the table names exactly the routes and methods that exist', () => {
    const files = routeFiles().sort(([a], [b]) => a.localeCompare(b));
    expect(files.length).toBeGreaterThan(40);
    const table = Object.entries(ROUTE_SCOPES)
      .map(([id, m]) => [id, Object.keys(m).sort()] as [string, string[]])
      .sort(([a], [b]) => a.localeCompare(b));
    expect(table).toEqual(files);
  });

  // Every (route, method) against a token holding each single scope, and one holding all four.
  const cases = Object.entries(ROUTE_SCOPES).flatMap(([id, methods]) => Object.entries(methods).map(([m, need]) => ({ id, m, need })));
  it.each(cases)('$m $id needs $need', ({ id, m, need }) => {
    const path = id.replace(/\[[a-z]+\]/g, 'x');
    expect(needOf(id, path, m)).toBe(need);
    for (const held of [...SCOPES.map((s) => [s]), [...SCOPES]] as Scope[][]) {
      const got = codeOf(() => checkScope(held, needOf(id, path, m)));
      if (need === 'any') expect(got).toBeUndefined();
      else if (need === 'session') expect(got).toBe('FORBIDDEN');
      else expect(got, held.join()).toBe(held.includes(need) ? undefined : 'TOKEN_SCOPE');
    }
  });

  it('refuses what the table does not name, reads pages, and takes HEAD as GET', () => {
    expect(codeOf(() => checkScope([...SCOPES], needOf('/api/files', '/api/files', 'PUT')))).toBe('TOKEN_SCOPE');
    expect(codeOf(() => checkScope([...SCOPES], needOf('/api/not-in-table', '/api/not-in-table', 'GET')))).toBe('TOKEN_SCOPE');
    expect(needOf('/api/files', '/api/files', 'HEAD')).toBe('read');
    expect(needOf('/files', '/files', 'GET')).toBe('read');
    expect(codeOf(() => checkScope(['write'], needOf('/(app)/files', '/files', 'GET')))).toBe('TOKEN_SCOPE');
    // An API path no route matches answers 404 to any token.
    expect(needOf(null, '/api/nothing', 'GET')).toBe('any');
  });

  it('the scopes asked for at creation: known, non-empty, no repeats, admin only for administrators', () => {
    expect(parseScopes(undefined, 'user')).toEqual(['read', 'write']);
    expect(parseScopes(['share', 'read'], 'user')).toEqual(['read', 'share']);
    expect(parseScopes(['admin', 'read', 'write', 'share'], 'admin')).toEqual(['read', 'write', 'share', 'admin']);
    for (const bad of [[], ['read', 'read'], ['root'], 'read', [1], null, ['read', 'write', 'share', 'admin', 'read']]) {
      expect(
        codeOf(() => parseScopes(bad, 'admin')),
        JSON.stringify(bad)
      ).toBe('WRONG_VALUE');
    }
    expect(codeOf(() => parseScopes(['admin'], 'user'))).toBe('FORBIDDEN');
  });
});
