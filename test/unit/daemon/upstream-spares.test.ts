/** Which reloads make a preconnected upstream connection stale (dialsAlike). */
import { describe, expect, it } from 'vitest';
import { buildConfig } from '../../../src/config/schema.js';
import type { RawOptions } from '../../../src/config/option-specs.js';
import type { SiteConfig } from '../../../src/config/types.js';
import { dialsAlike } from '../../../src/daemon/upstream-spares.js';

function site(options: RawOptions = {}): SiteConfig {
  const [only] = buildConfig({ upstream: '10.0.11.251:21', upstreamPreconnect: '4', ...options }).sites;
  if (only === undefined) throw new Error('no site');
  return only;
}

describe('dialsAlike', () => {
  it('keeps spares across a reload that changes nothing they were dialled with', () => {
    expect(dialsAlike(site(), site())).toBe(true);
    expect(dialsAlike(site(), site({ upstreamPreconnect: '8', idleTimeout: '5m', passivePorts: '61000-61099' }))).toBe(true);
  });

  it.each<[string, RawOptions]>([
    ['another server', { upstream: '10.0.11.252:21' }],
    ['another port', { upstream: '10.0.11.251:2121' }],
    ['another connect timeout', { upstreamConnectTimeout: '3s' }],
    ['another max age', { upstreamPreconnectMaxAge: '5s' }],
    ['TLS towards the server', { upstreamTls: 'explicit', allowPlainClients: 'true' }],
  ])('makes them stale for %s', (_title, options) => {
    expect(dialsAlike(site(), site(options))).toBe(false);
  });

  it('makes them stale when the TLS check changes (another pin)', () => {
    const pinned = (pin: string): SiteConfig => site({ upstreamTls: 'explicit', allowPlainClients: 'true', upstreamTlsFingerprint: pin.repeat(32) });
    expect(dialsAlike(pinned('ab'), pinned('ab'))).toBe(true);
    expect(dialsAlike(pinned('ab'), pinned('cd'))).toBe(false);
  });
});
