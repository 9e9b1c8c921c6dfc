import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/schema.js';
import { findSiteConflict, listenersOverlap, portRangesOverlap } from '../../../src/config/site-conflicts.js';
import type { SiteConfig } from '../../../src/config/types.js';
import type { Endpoint, PortRange } from '../../../src/config/values.js';

function site(name: string, overrides: Partial<SiteConfig> = {}): SiteConfig {
  const [base] = buildConfig({ upstream: '10.0.0.1:21' }).sites;
  if (base === undefined) throw new Error('no site');
  return { ...base, name, ...overrides };
}

const at = (host: string, port = 21): Endpoint => ({ host, port });

describe('listenersOverlap', () => {
  const cases: { title: string; a: Endpoint; b: Endpoint; overlap: boolean }[] = [
    { title: 'the same address and port', a: at('127.0.0.1'), b: at('127.0.0.1'), overlap: true },
    { title: 'two addresses on one port', a: at('127.0.0.1'), b: at('127.0.0.2'), overlap: false },
    { title: 'one address on two ports', a: at('127.0.0.1', 21), b: at('127.0.0.1', 2121), overlap: false },
    { title: '0.0.0.0 and 127.0.0.1', a: at('0.0.0.0'), b: at('127.0.0.1'), overlap: true },
    { title: '127.0.0.1 and 0.0.0.0', a: at('127.0.0.1'), b: at('0.0.0.0'), overlap: true },
    { title: '0.0.0.0 twice', a: at('0.0.0.0'), b: at('0.0.0.0'), overlap: true },
    { title: '[::] and 0.0.0.0 (dual-stack)', a: at('::'), b: at('0.0.0.0'), overlap: true },
    { title: '0.0.0.0 and [::]', a: at('0.0.0.0'), b: at('::'), overlap: true },
    { title: '[::] and 127.0.0.1', a: at('::'), b: at('127.0.0.1'), overlap: true },
    { title: '[::] and [::1]', a: at('::'), b: at('::1'), overlap: true },
    { title: '0.0.0.0 and [::1]', a: at('0.0.0.0'), b: at('::1'), overlap: false },
    { title: '[::1] and 127.0.0.1', a: at('::1'), b: at('127.0.0.1'), overlap: false },
    { title: 'two spellings of one IPv6 address', a: at('2001:db8::1'), b: at('2001:0db8:0:0:0:0:0:1'), overlap: true },
    { title: '::0 (the IPv6 wildcard spelled out) and [::1]', a: at('::0'), b: at('::1'), overlap: true },
    { title: 'an IPv4-mapped address and its IPv4 address', a: at('::ffff:127.0.0.1'), b: at('127.0.0.1'), overlap: true },
    { title: 'port 0 (any free port) twice', a: at('127.0.0.1', 0), b: at('127.0.0.1', 0), overlap: false },
    { title: 'port 0 beside a wildcard', a: at('0.0.0.0', 0), b: at('127.0.0.1', 0), overlap: false },
  ];

  it.each(cases)('$title: $overlap', ({ a, b, overlap }) => {
    expect(listenersOverlap(a, b)).toBe(overlap);
  });

  it('is symmetric', () => {
    const hosts = ['0.0.0.0', '127.0.0.1', '127.0.0.2', '::', '::1', '2001:db8::1', '::ffff:127.0.0.1', '10.0.0.1'];
    const endpoint = fc.record({ host: fc.constantFrom(...hosts), port: fc.constantFrom(0, 21, 2121) });
    fc.assert(fc.property(endpoint, endpoint, (a, b) => listenersOverlap(a, b) === listenersOverlap(b, a)));
  });
});

describe('portRangesOverlap', () => {
  const range = fc.tuple(fc.integer({ min: 1024, max: 1100 }), fc.integer({ min: 0, max: 30 })).map(([low, span]): PortRange => ({ low, high: low + span }));

  it('is true exactly when some port is in both ranges', () => {
    fc.assert(
      fc.property(range, range, (a, b) => {
        let shared = false;
        for (let port = a.low; port <= a.high; port++) if (port >= b.low && port <= b.high) shared = true;
        expect(portRangesOverlap(a, b)).toBe(shared);
      }),
    );
  });

  it('any two relay sites whose ranges do not overlap pass; any two whose ranges overlap fail, naming both', () => {
    const sitesWith = (a: PortRange, b: PortRange): SiteConfig[] => [
      site('first', { listen: [at('127.0.0.1', 2121)], passivePorts: a }),
      site('second', { listen: [at('127.0.0.1', 2122)], passivePorts: b }),
    ];
    fc.assert(
      fc.property(range, range, (a, b) => {
        const conflict = findSiteConflict(sitesWith(a, b));
        if (!portRangesOverlap(a, b)) {
          expect(conflict).toBeUndefined();
          return;
        }
        expect(conflict?.path).toEqual(['sites', 1, 'passivePorts']);
        expect(conflict?.detail).toBe(
          `site "second" has passive ports ${b.low}-${b.high}, which overlap ${a.low}-${a.high} of site "first" (sites[0].passivePorts)`,
        );
      }),
    );
  });
});

describe('findSiteConflict', () => {
  it('finds nothing in one site, or in sites apart', () => {
    expect(findSiteConflict([site('a')])).toBeUndefined();
    expect(
      findSiteConflict([
        site('a', { listen: [at('0.0.0.0', 21)], passivePorts: { low: 60000, high: 60099 } }),
        site('b', { listen: [at('0.0.0.0', 2121)], passivePorts: { low: 60100, high: 60199 } }),
      ]),
    ).toBeUndefined();
  });

  it('lets a rewrite site keep any range: it never takes a passive port', () => {
    const sites = [site('a', { listen: [at('0.0.0.0', 21)] }), site('b', { listen: [at('0.0.0.0', 2121)], mode: 'rewrite' })];
    expect(findSiteConflict(sites)).toBeUndefined();
    expect(findSiteConflict([...sites].reverse())).toBeUndefined();
  });

  it('reports a duplicate name before a listener or range conflict of the same site', () => {
    expect(findSiteConflict([site('a'), site('a')])).toEqual({
      path: ['sites', 1, 'name'],
      expected: 'a name no other site has',
      received: 'a',
      detail: 'site name "a" is already the name of sites[0]; names must be unique',
    });
  });

  it('reports the first conflict in the order of the sites, naming both sites', () => {
    const conflict = findSiteConflict([
      site('a', { listen: [at('127.0.0.1', 21)], passivePorts: { low: 60000, high: 60099 } }),
      site('b', { listen: [at('127.0.0.1', 22)], passivePorts: { low: 60100, high: 60199 } }),
      site('c', { listen: [at('127.0.0.1', 23), at('0.0.0.0', 22)], passivePorts: { low: 60200, high: 60299 } }),
    ]);
    expect(conflict).toEqual({
      path: ['sites', 2, 'listen', 1],
      expected: 'a listener no other site overlaps',
      received: '0.0.0.0:22',
      detail: 'site "c" listens on 0.0.0.0:22, which overlaps 127.0.0.1:22 of site "b" (sites[1].listen[0])',
    });
  });
});
