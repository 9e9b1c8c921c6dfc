import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/schema.js';
import type { DaemonConfig, SiteConfig } from '../../../src/config/types.js';
import { canonicalJson, hashConfig } from '../../../src/daemon/config-hash.js';
import { listenerSpecs, planReload } from '../../../src/daemon/reload-plan.js';

function site(name: string, listen: string | string[] = '0.0.0.0:21', overrides: Partial<SiteConfig> = {}): SiteConfig {
  const [built] = buildConfig({ upstream: '10.0.11.251:21', listen, passivePorts: '60000-60999' }).sites;
  if (built === undefined) throw new Error('no site');
  return { ...built, name, ...overrides };
}

const north = site('north', '0.0.0.0:21');
const south = site('south', '0.0.0.0:2121');

describe('planReload', () => {
  const cases: {
    title: string;
    current: SiteConfig[];
    next: SiteConfig[];
    expected: { added: string[]; removed: string[]; changed: { name: string; keys: string[] }[]; unchanged: string[]; bind: string[]; close: string[] };
  }[] = [
    {
      title: 'start: every site added, every listener bound',
      current: [],
      next: [north, south],
      expected: { added: ['north', 'south'], removed: [], changed: [], unchanged: [], bind: ['0.0.0.0|21|any', '0.0.0.0|2121|any'], close: [] },
    },
    {
      title: 'the same configuration: nothing to do',
      current: [north, south],
      next: [north, south],
      expected: { added: [], removed: [], changed: [], unchanged: ['north', 'south'], bind: [], close: [] },
    },
    {
      title: 'a site added: only its listener is bound',
      current: [north],
      next: [north, south],
      expected: { added: ['south'], removed: [], changed: [], unchanged: ['north'], bind: ['0.0.0.0|2121|any'], close: [] },
    },
    {
      title: 'a site removed: its listener closed',
      current: [north, south],
      next: [north],
      expected: { added: [], removed: ['south'], changed: [], unchanged: ['north'], bind: [], close: ['0.0.0.0|2121|any'] },
    },
    {
      title: 'a changed passive range and mode keep the listener',
      current: [north],
      next: [{ ...north, passivePorts: { low: 61000, high: 61999 }, mode: 'rewrite' }],
      expected: { added: [], removed: [], changed: [{ name: 'north', keys: ['passivePorts', 'mode'] }], unchanged: [], bind: [], close: [] },
    },
    {
      title: 'a moved listener: the new one bound, the old one closed',
      current: [north],
      next: [site('north', '0.0.0.0:2100')],
      expected: { added: [], removed: [], changed: [{ name: 'north', keys: ['listen'] }], unchanged: [], bind: ['0.0.0.0|2100|any'], close: ['0.0.0.0|21|any'] },
    },
    {
      title: 'a renamed site: its listener is handed over, not rebound',
      current: [north],
      next: [site('west', '0.0.0.0:21')],
      expected: { added: ['west'], removed: ['north'], changed: [], unchanged: [], bind: [], close: [] },
    },
    {
      title: 'an IPv4 listener added beside [::] on the same port: [::] must become IPv6-only, a new socket',
      current: [site('north', '[::]:21')],
      next: [site('north', ['0.0.0.0:21', '[::]:21'])],
      expected: { added: [], removed: [], changed: [{ name: 'north', keys: ['listen'] }], unchanged: [], bind: ['0.0.0.0|21|any', '::|21|v6only'], close: ['::|21|any'] },
    },
    {
      title: 'port 0 is keyed by site: two sites may each ask for one',
      current: [site('north', '127.0.0.1:0')],
      next: [site('north', '127.0.0.1:0'), site('south', '127.0.0.1:0')],
      expected: { added: ['south'], removed: [], changed: [], unchanged: ['north'], bind: ['south|127.0.0.1|0|any'], close: [] },
    },
  ];

  it.each(cases)('$title', ({ current, next, expected }) => {
    const result = planReload(current, next);
    if (!result.ok) throw new Error(result.reason);
    const { plan } = result;
    expect({
      added: plan.added,
      removed: plan.removed,
      changed: plan.changed,
      unchanged: plan.unchanged,
      bind: plan.bind.map((spec) => spec.key),
      close: plan.close,
    }).toEqual(expected);
    expect(plan.listeners.map((spec) => spec.site)).toEqual(next.flatMap((config) => config.listen.map(() => config.name)));
  });

  it.each([
    { title: 'one address in two sites', next: [north, site('south', '0.0.0.0:21')], reason: 'listen address 0.0.0.0:21 is used by sites north and south' },
    { title: 'one address twice in a site', next: [site('north', ['0.0.0.0:21', '0.0.0.0:21'])], reason: 'listen address 0.0.0.0:21 is used twice by site north' },
    { title: 'one name for two sites', next: [north, site('north', '0.0.0.0:2121')], reason: 'site name north is used twice' },
  ])('refuses $title', ({ next, reason }) => {
    expect(planReload([north], next)).toEqual({ ok: false, reason });
  });
});

describe('listenerSpecs', () => {
  it('makes [::] IPv6-only only beside an IPv4 listener on the same port, in any site', () => {
    const result = listenerSpecs([site('north', ['[::]:21', '[::]:990']), site('south', '0.0.0.0:21')]);
    if (!result.ok) throw new Error(result.reason);
    expect(result.specs.map((spec) => [spec.endpoint.port, spec.ipv6Only])).toEqual([
      [21, true],
      [990, false],
      [21, false],
    ]);
  });
});

describe('hashConfig', () => {
  it('is 12 hex digits, the same for equal configurations whatever their key order, different for a change', () => {
    const config = buildConfig({ upstream: '10.0.11.251:21' });
    const reordered: DaemonConfig = {
      sites: config.sites.map((one) => ({ ...one, upstream: { port: one.upstream.port, host: one.upstream.host } })),
      drainTimeoutMs: config.drainTimeoutMs,
      metricsListen: config.metricsListen,
      logLevel: config.logLevel,
    };
    expect(hashConfig(config)).toMatch(/^[0-9a-f]{12}$/);
    expect(hashConfig(reordered)).toBe(hashConfig(config));
    expect(hashConfig({ ...config, drainTimeoutMs: 1 })).not.toBe(hashConfig(config));
  });

  it.each([
    { value: { b: 1, a: [2, { d: undefined, c: 'x' }] }, expected: '{"a":[2,{"c":"x"}],"b":1}' },
    { value: [undefined, null], expected: '[null,null]' },
    { value: 'text', expected: '"text"' },
  ])('canonicalJson($value)', ({ value, expected }) => {
    expect(canonicalJson(value)).toBe(expected);
  });
});
