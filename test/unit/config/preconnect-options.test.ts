/** `upstreamPreconnect` and its max age: forms, defaults, and the sites it cannot serve. */
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/schema.js';
import { siteErrorOf, siteOf } from './site-of.js';

const errorOf = siteErrorOf;

describe('upstreamPreconnect', () => {
  it('is off by default, and a site without it has neither key', () => {
    const site = siteOf('');
    expect('upstreamPreconnect' in site).toBe(false);
    expect('upstreamPreconnectMaxAgeMs' in site).toBe(false);
    expect('upstreamPreconnect' in siteOf('upstreamPreconnect: 0')).toBe(false);
  });

  it('a count with the 15 s default age, or both set, by file and by flag', () => {
    expect(siteOf('upstreamPreconnect: 8')).toMatchObject({ upstreamPreconnect: 8, upstreamPreconnectMaxAgeMs: 15_000 });
    expect(siteOf('upstreamPreconnect: 64\nupstreamPreconnectMaxAge: 500ms')).toMatchObject({ upstreamPreconnect: 64, upstreamPreconnectMaxAgeMs: 500 });
    const [site] = buildConfig({ upstream: '10.0.0.1:21', upstreamPreconnect: '3', upstreamPreconnectMaxAge: '2s' }).sites;
    expect(site).toMatchObject({ upstreamPreconnect: 3, upstreamPreconnectMaxAgeMs: 2000 });
  });

  it.each(['65', '-1', '1.5', 'some', '1000'])('refuses %s, naming the key and the form', (value) => {
    expect(errorOf(`upstreamPreconnect: "${value}"`)).toMatch(/upstreamPreconnect.*a whole number from 0 to 64/s);
  });

  it('serves a site with TLS towards the server', () => {
    expect(siteOf('upstreamPreconnect: 2\nupstreamTls: explicit\nallowPlainClients: true')).toMatchObject({ upstreamPreconnect: 2 });
  });

  it('refuses a max age that is no duration', () => {
    expect(errorOf('upstreamPreconnect: 2\nupstreamPreconnectMaxAge: soon')).toMatch(/upstreamPreconnectMaxAge/);
  });

  it.each([
    ['routes: [{ user: "^a", upstream: "10.0.0.2:21" }]', /routes/],
    ['upstreamProxyProtocol: v2', /upstreamProxyProtocol/],
  ])('cannot serve a site with %s', (text, named) => {
    const message = errorOf(`upstreamPreconnect: 2\n${text}`);
    expect(message).toMatch(/upstreamPreconnect/);
    expect(message).toMatch(named);
    // Without preconnection the same site is fine.
    expect(() => siteOf(text)).not.toThrow();
  });
});
