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
        'sites:',
        '  - name: default',
        '    listen:',
        '      - 0.0.0.0:21',
        '    upstream: 10.0.0.1:21',
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
        '    replyTimeout: 60s',
        '    maxCommandBytes: 4096',
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

  it('writes metrics off and IPv6 in brackets, and leaves an unset public address out', () => {
    const { config } = loadConfig({ flags: { upstream: '[2001:db8::21]:21', listen: '[::]:21', metricsListen: 'off' } });
    expect(effectiveDocument(config)).toMatchObject({
      metricsListen: 'off',
      sites: [{ listen: ['[::]:21'], upstream: '[2001:db8::21]:21' }],
    });
    expect(effectiveDocument(config)['sites']).toEqual([expect.not.objectContaining({ publicAddress: expect.anything() })]);
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
      maxCommandBytes: fc.integer({ min: 128, max: 65_536 }).map(String),
      drainTimeout: duration,
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
