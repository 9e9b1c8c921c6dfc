import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { effectiveDocument, renderEffectiveConfig } from '../../../src/config/effective-config.js';
import { configFromDocument, hashConfig, loadConfig, parseConfigText } from '../../../src/config/load-config.js';
import { EPSV_MODES, LOG_LEVELS, MODES, ACTIVE_MODES } from '../../../src/config/types.js';

const example = fileURLToPath(new URL('../../../config/ftpmasq.example.yaml', import.meta.url));

function reload(text: string) {
  return configFromDocument(parseConfigText(text, 'printed'), { source: 'printed' });
}

describe('renderEffectiveConfig', () => {
  it('prints every key with its default, durations as text, the source and the hash in comments', () => {
    const loaded = loadConfig({ flags: { upstream: '10.0.0.1:21' } });
    expect(renderEffectiveConfig(loaded)).toBe(
      [
        '# command line: valid. The effective configuration, every default filled in:',
        `# hash: ${loaded.hash}`,
        '',
        'logLevel: info',
        'metricsListen: 127.0.0.1:9464',
        'drainTimeout: 30s',
        'workers: auto',
        'sites:',
        '  - name: default',
        '    listen:',
        '      - 0.0.0.0:21',
        '    upstream: 10.0.0.1:21',
        '    publicAddressRefresh: 60s',
        '    passivePorts: 60000-60999',
        '    mode: relay',
        '    epsv: passthrough',
        '    active: relay',
        '    passiveTimeout: 30s',
        '    upstreamConnectTimeout: 10s',
        '    maxSessions: 10000',
        '    greetingTimeout: 10s',
        '    loginTimeout: 60s',
        '    idleTimeout: 600s',
        '    dataStallTimeout: 300s',
        '    allowClients: []',
        '    denyClients: []',
        '    maxSessionsPerClient: unlimited',
        '    advertise: []',
        '    passThroughClients: []',
        '    replyTimeout: 60s',
        '    maxCommandBytes: 4096',
        '    upstreamPreconnect: 0',
        '    upstreamPreconnectMaxAge: 15s',
        '    routes: []',
        '    proxyProtocolData: false',
        '    upstreamProxyProtocol: off',
        '    upstreamProxyProtocolData: false',
        '    passivePortSharing: false',
        '    advertisedPassivePortOffset: 0',
        '',
      ].join('\n'),
    );
  });

  it('prints a file that loads back to the same configuration and hash (the example)', () => {
    const loaded = loadConfig({ configPath: example, flags: {} });
    const again = reload(renderEffectiveConfig(loaded));
    expect(again).toEqual(loaded.config);
    expect(hashConfig(again)).toBe(loaded.hash);
  });

  it.each([
    { title: 'pinned', flags: { upstreamTlsFingerprint: 'ab'.repeat(32) }, printed: `    upstreamTlsFingerprint: ${'AB'.repeat(32)}` },
    { title: 'the system CAs', flags: {}, printed: '    upstreamTls: implicit' },
  ])('prints TLS towards the server ($title) so that it loads back to the same configuration', ({ flags, printed }) => {
    const loaded = loadConfig({ flags: { upstream: 'ftp.example.net:990', upstreamTls: 'implicit', allowPlainClients: 'true', ...flags } });
    const text = renderEffectiveConfig(loaded);
    expect(text).toContain(printed);
    expect(text).toContain('    allowPlainClients: true');
    const again = reload(text);
    expect(again).toEqual(loaded.config);
    expect(hashConfig(again)).toBe(loaded.hash);
  });

  it('writes metrics off and IPv6 in brackets, and leaves an unset public address out', () => {
    const { config } = loadConfig({ flags: { upstream: '[2001:db8::21]:21', listen: '[::]:21', metricsListen: 'off' } });
    expect(effectiveDocument(config)).toMatchObject({
      metricsListen: 'off',
      sites: [{ listen: ['[::]:21'], upstream: '[2001:db8::21]:21' }],
    });
    expect(effectiveDocument(config)['sites']).toEqual([expect.not.objectContaining({ publicAddress: expect.anything() })]);
  });

  it.each([
    {
      title: 'advertise rules (relay mode)',
      text: 'upstream: 10.0.0.1:21\nadvertise:\n  - clients: [10.0.11.0/24, "::ffff:10.0.12.0/120"]\n    address: 10.0.11.1\n  - clients: 172.16.0.0/12\n    address: 172.16.0.1\n',
      printed: {
        advertise: [
          { clients: ['10.0.11.0/24', '10.0.12.0/24'], address: '10.0.11.1' },
          { clients: ['172.16.0.0/12'], address: '172.16.0.1' },
        ],
      },
    },
    {
      title: 'pass-through blocks (rewrite mode)',
      text: 'upstream: 10.0.0.1:21\nmode: rewrite\npassThroughClients: ["2001:db8::/32", 10.0.11.0/24]\n',
      printed: { passThroughClients: ['2001:db8::/32', '10.0.11.0/24'] },
    },
  ])('round-trips the file-only keys: $title', ({ text, printed }) => {
    const config = reload(text);
    const again = reload(renderEffectiveConfig({ config, hash: hashConfig(config), source: 'test' }));
    expect(again).toEqual(config);
    expect(effectiveDocument(again)['sites']).toEqual([expect.objectContaining(printed)]);
  });

  it('round-trips any configuration the flags can give', () => {
    const duration = fc.oneof(fc.integer({ min: 1, max: 999_999_999 }).map((n) => `${n}ms`), fc.integer({ min: 1, max: 35_791 }).map((n) => `${n}m`));
    const flags = fc.record({
      upstream: fc.constantFrom('10.0.0.1:21', 'ftp.internal:2121', '[2001:db8::1]:21'),
      listen: fc.subarray(['0.0.0.0:21', '[::]:21', '127.0.0.1:0', '[::1]:2121'], { minLength: 1 }),
      publicAddress: fc.option(fc.constantFrom('203.0.113.10', '2001:db8::10'), { nil: undefined }),
      passivePorts: fc.tuple(fc.integer({ min: 1024, max: 65535 }), fc.integer({ min: 1024, max: 65535 })).map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
      mode: fc.constantFrom(...MODES),
      epsv: fc.constantFrom(...EPSV_MODES),
      active: fc.constantFrom(...ACTIVE_MODES),
      logLevel: fc.constantFrom(...LOG_LEVELS),
      metricsListen: fc.constantFrom('off', '127.0.0.1:9464', '[::1]:0'),
      passiveTimeout: duration,
      upstreamConnectTimeout: duration,
      maxSessions: fc.integer({ min: 1, max: 1_000_000 }).map(String),
      greetingTimeout: duration,
      loginTimeout: duration,
      idleTimeout: duration,
      dataStallTimeout: duration,
      replyTimeout: duration,
      maxCommandBytes: fc.integer({ min: 128, max: 4096 }).map(String),
      drainTimeout: duration,
      allowClients: fc.subarray(['10.0.11.0/24', '192.0.2.7', '::ffff:10.0.12.0/120', '2001:db8::/32', '0.0.0.0/0']),
      denyClients: fc.subarray(['192.0.2.0/25', '::1', '::/0']),
      maxSessionsPerClient: fc.oneof(fc.constant('unlimited'), fc.integer({ min: 1, max: 1_000_000 }).map(String)),
    });
    fc.assert(
      fc.property(flags, (given) => {
        const loaded = loadConfig({ flags: given });
        const again = reload(renderEffectiveConfig(loaded));
        expect(again).toEqual(loaded.config);
        expect(hashConfig(again)).toBe(loaded.hash);
      }),
      { numRuns: 200 },
    );
  });
});
