import { describe, expect, it } from 'vitest';
import { configFromDocument } from '../../../src/config/load-config.js';
import {
  backtrackingRisk,
  chooseUpstream,
  compileUserPattern,
  MAX_PATTERN_LENGTH,
  MAX_ROUTED_NAME_LENGTH,
  type UserRoute,
} from '../../../src/site/user-routes.js';
import { configErrorOf } from '../config/config-error-of.js';

function route(user: string, host: string): UserRoute {
  const compiled = compileUserPattern(user);
  if (!compiled.ok) throw new Error(compiled.reason);
  return { user, pattern: compiled.value, upstream: { host, port: 21 } };
}

const SITE = {
  upstream: { host: 'fallback', port: 21 },
  routes: [route('alice|bob', 'a'), route('ops-[0-9]+', 'b'), route('ops-.*', 'c'), route('.*@example\\.com', 'd')],
};

describe('chooseUpstream', () => {
  it.each([
    { title: 'the first alternative', user: 'alice', host: 'a', route: 0 },
    { title: 'the second alternative', user: 'bob', host: 'a', route: 0 },
    { title: 'first match wins over a later one', user: 'ops-12', host: 'b', route: 1 },
    { title: 'a later route when the first does not match', user: 'ops-x', host: 'c', route: 2 },
    { title: 'a suffix pattern', user: 'carol@example.com', host: 'd', route: 3 },
    { title: 'anchored at the end: a longer name', user: 'alice2', host: 'fallback', route: undefined },
    { title: 'anchored at the start: a name containing the pattern', user: 'malice', host: 'fallback', route: undefined },
    { title: 'case-sensitive', user: 'Alice', host: 'fallback', route: undefined },
    { title: 'no match: the site upstream', user: 'dave', host: 'fallback', route: undefined },
    { title: 'the empty name', user: '', host: 'fallback', route: undefined },
    { title: 'a name over the cap is not matched', user: `ops-${'1'.repeat(MAX_ROUTED_NAME_LENGTH)}`, host: 'fallback', route: undefined },
  ])('$title', ({ user, host, route: index }) => {
    const choice = chooseUpstream(SITE, user);
    expect(choice.upstream.host).toBe(host);
    expect(choice.route).toBe(index);
  });

  it('falls back when there are no routes', () => {
    expect(chooseUpstream({ upstream: SITE.upstream, routes: [] }, 'alice')).toEqual({ upstream: SITE.upstream, route: undefined });
  });
});

describe('compileUserPattern', () => {
  it.each([
    { pattern: 'alice', ok: true },
    { pattern: '[a-z]+\\.[a-z]+', ok: true },
    { pattern: '(sales|support)-[0-9]{1,4}', ok: true },
    { pattern: '(abc)+', ok: true },
    { pattern: '(?:ab)*c', ok: true },
    { pattern: '(?<team>ops)-\\d+', ok: true },
    { pattern: '[(+*]+x', ok: true },
    { pattern: '\\(a+\\)+', ok: true },
    { pattern: '(a+)+', ok: false },
    { pattern: '(a|aa)*', ok: false },
    { pattern: '(?:a*b)+', ok: false },
    { pattern: '((ab)*c)+', ok: false },
    { pattern: '(a|b){2,}', ok: false },
    { pattern: '(x+x+)+y', ok: false },
    { pattern: 'a*b*c*d*e*', ok: false },
    { pattern: 'a*b*c*d*', ok: true },
    { pattern: '(', ok: false },
    { pattern: '', ok: false },
    { pattern: 'a'.repeat(MAX_PATTERN_LENGTH + 1), ok: false },
  ])('$pattern: ok $ok', ({ pattern, ok }) => {
    expect(compileUserPattern(pattern).ok).toBe(ok);
  });

  it('names nested repetition as the reason', () => {
    expect(backtrackingRisk('(a+)+')).toMatch(/quantifier applies to a group/);
  });

  it('a pattern it accepts matches a hostile 128-character name quickly', () => {
    const compiled = compileUserPattern('.*a.*a.*a.*b');
    if (!compiled.ok) throw new Error(compiled.reason);
    const started = performance.now();
    compiled.value.test('a'.repeat(MAX_ROUTED_NAME_LENGTH));
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('routes in the config', () => {
  const base = { upstream: '10.0.0.1:21', listen: '127.0.0.1:2121' };

  it('loads routes, anchored, with their upstreams', () => {
    const config = configFromDocument({ ...base, routes: [{ user: 'alice', upstream: 'ftp-a.internal:2121' }] }, { source: 'test' });
    const [first] = config.sites[0]?.routes ?? [];
    expect(first?.user).toBe('alice');
    expect(first?.upstream).toEqual({ host: 'ftp-a.internal', port: 2121 });
    expect(first?.pattern.test('alice')).toBe(true);
    expect(first?.pattern.test('malice')).toBe(false);
  });

  it('names the key path of a bad pattern', () => {
    const document = { sites: [{ name: 's', ...base, routes: [{ user: 'ok', upstream: 'a:21' }, { user: '(a+)+', upstream: 'b:21' }] }] };
    expect(configErrorOf(() => configFromDocument(document, { source: 'f.yaml' })).message).toMatch(/^f\.yaml: sites\[0\]\.routes\[1\]\.user: expected a regular expression .* got "\(a\+\)\+": a quantifier applies/);
  });

  it('names the key path of a pattern that does not compile', () => {
    const document = { ...base, routes: [{ user: '[a-', upstream: 'a:21' }] };
    expect(configErrorOf(() => configFromDocument(document, { source: 'f.yaml' })).message).toMatch(/^f\.yaml: routes\[0\]\.user: expected a regular expression .*Invalid regular expression/);
  });

  it('names the key path of a bad upstream', () => {
    const document = { ...base, routes: [{ user: 'a', upstream: 'nowhere' }] };
    expect(configErrorOf(() => configFromDocument(document, { source: 'f.yaml' })).message).toMatch(/^f\.yaml: routes\[0\]\.upstream: expected HOST:PORT/);
  });

  it('refuses an unknown key in a route', () => {
    const document = { ...base, routes: [{ users: 'a', upstream: 'a:21' }] };
    expect(configErrorOf(() => configFromDocument(document, { source: 'f.yaml' })).message).toMatch(/routes\[0\]/);
  });
});
