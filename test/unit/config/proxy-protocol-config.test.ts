/** The PROXY protocol keys of a site: forms, defaults, and the errors for keys that need another. */
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/schema.js';
import { siteErrorOf, siteOf } from './site-of.js';

const errorOf = siteErrorOf;

describe('proxyProtocol and friends', () => {
  it('default: no header read or sent', () => {
    const site = siteOf('');
    expect([site.proxyProtocol, site.proxyProtocolData, site.upstreamProxyProtocol, site.upstreamProxyProtocolData]).toEqual([undefined, false, 'off', false]);
  });

  it('trusted sources, one or a list, with the 5 s default timeout', () => {
    expect(siteOf('proxyProtocol: { trusted: 10.0.13.5 }').proxyProtocol).toEqual({
      trusted: [{ family: 4, bytes: [10, 0, 13, 5], prefix: 32 }],
      timeoutMs: 5000,
    });
    expect(siteOf('proxyProtocol: { trusted: [10.0.13.0/28, "2001:db8::/64"], timeout: 300ms }').proxyProtocol?.timeoutMs).toBe(300);
  });

  it('every key together', () => {
    const site = siteOf('proxyProtocol: { trusted: [10.0.13.0/28] }\nproxyProtocolData: true\nupstreamProxyProtocol: v2\nupstreamProxyProtocolData: true');
    expect([site.proxyProtocolData, site.upstreamProxyProtocol, site.upstreamProxyProtocolData]).toEqual([true, 'v2', true]);
  });

  it('the flags', () => {
    const [site] = buildConfig({ upstream: '10.0.0.1:21', upstreamProxyProtocol: 'v1', upstreamProxyProtocolData: 'true' }).sites;
    expect([site?.upstreamProxyProtocol, site?.upstreamProxyProtocolData]).toEqual(['v1', true]);
  });

  const errors = [
    { title: 'a bad CIDR names its index', text: 'proxyProtocol: { trusted: [10.0.13.0/28, 10.0.13.0/33] }', expected: /proxyProtocol\.trusted\[1\]/ },
    { title: 'a bad timeout', text: 'proxyProtocol: { trusted: [10.0.13.0/28], timeout: soon }', expected: /proxyProtocol\.timeout/ },
    { title: 'trusted is required', text: 'proxyProtocol: { timeout: 5s }', expected: /proxyProtocol\.trusted/ },
    { title: 'an unknown key inside', text: 'proxyProtocol: { trusted: [10.0.13.0/28], trust: [] }', expected: /proxyProtocol\.trust/ },
    { title: 'proxyProtocolData needs proxyProtocol', text: 'proxyProtocolData: true', expected: /^\/etc\/ftpmasq.yaml: proxyProtocolData: expected proxyProtocol with its trusted sources, got "true"$/ },
    { title: 'upstreamProxyProtocolData needs upstreamProxyProtocol', text: 'upstreamProxyProtocolData: true', expected: /upstreamProxyProtocolData: expected upstreamProxyProtocol v1 or v2/ },
    { title: 'an unknown version', text: 'upstreamProxyProtocol: v3', expected: /upstreamProxyProtocol.*off\|v1\|v2|one of/ },
  ];
  it.each(errors)('$title', ({ text, expected }) => {
    expect(errorOf(text)).toMatch(expected);
  });
});
