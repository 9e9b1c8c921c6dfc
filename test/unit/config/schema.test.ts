import { describe, expect, it } from 'vitest';
import {
  ACTIVE_MODES,
  buildConfig,
  DEFAULT_SITE_NAME,
  DEFAULT_TIMEOUTS_MS,
  EPSV_MODES,
  LOG_LEVELS,
  MODES,
  OPTION_SPECS,
  type RawOptions,
} from '../../../src/config/schema.js';
import type { DaemonConfig } from '../../../src/config/types.js';
import { CIDR_FORM } from '../../../src/protocol/cidr.js';
import { configErrorOf } from './config-error-of.js';
import { OFFSET_FORM } from '../../../src/config/site-fields-scale.js';
import { SLICE_FORM } from '../../../src/site/port-slices.js';

/** The flat view of a one-site configuration these cases were written against. */
function flat(config: DaemonConfig): Record<string, unknown> {
  const [site] = config.sites;
  if (site === undefined || config.sites.length !== 1) throw new Error('expected exactly one site');
  const { name: _name, greetingTimeoutMs: _g, loginTimeoutMs: _l, idleTimeoutMs: _i, dataStallTimeoutMs: _d, replyTimeoutMs: _r, maxCommandBytes: _c, proxyProtocol: _pp, proxyProtocolData: _ppd, upstreamProxyProtocol: _upp, upstreamProxyProtocolData: _uppd, ...rest } = site;
  return { ...rest, logLevel: config.logLevel, metricsListen: config.metricsListen };
}
type Config = ReturnType<typeof flat>;

const UPSTREAM = 'ftp.internal:21';

const DEFAULTS: Config = {
  listen: [{ host: '0.0.0.0', port: 21 }],
  upstream: { host: 'ftp.internal', port: 21 },
  publicAddress: undefined,
  publicAddressRefreshMs: 60_000,
  passivePorts: { low: 60000, high: 60999 },
  mode: 'relay',
  epsv: 'passthrough',
  active: 'relay',
  logLevel: 'info',
  metricsListen: { host: '127.0.0.1', port: 9464 },
  passiveTimeoutMs: 30_000,
  upstreamConnectTimeoutMs: 10_000,
  maxSessions: 10_000,
  allowClients: [],
  denyClients: [],
  maxSessionsPerClient: undefined,
  advertise: [],
  passThroughClients: [],
  routes: [],
  passivePortSharing: false,
  advertisedPassivePortOffset: 0,
};

const BLOCK_10_0_11 = { family: 4, bytes: [10, 0, 11, 0], prefix: 24 };

describe('buildConfig with valid options', () => {
  const cases: { title: string; input: RawOptions; expected: Config }[] = [
    { title: 'only --upstream: every default applies', input: { upstream: UPSTREAM }, expected: DEFAULTS },
    { title: 'one --allow-client', input: { upstream: UPSTREAM, allowClients: ['10.0.11.0/24'] }, expected: { ...DEFAULTS, allowClients: [BLOCK_10_0_11] } },
    {
      title: 'repeated --deny-client, a bare address is one host, IPv6 and IPv4-mapped',
      input: { upstream: UPSTREAM, denyClients: ['192.0.2.7', '2001:db8::/32', '::ffff:10.0.11.0/120'] },
      expected: {
        ...DEFAULTS,
        denyClients: [
          { family: 4, bytes: [192, 0, 2, 7], prefix: 32 },
          { family: 6, bytes: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], prefix: 32 },
          BLOCK_10_0_11,
        ],
      },
    },
    { title: '--max-sessions-per-client', input: { upstream: UPSTREAM, maxSessionsPerClient: '3' }, expected: { ...DEFAULTS, maxSessionsPerClient: 3 } },
    { title: 'one --listen as a string', input: { upstream: UPSTREAM, listen: '127.0.0.1:2121' }, expected: { ...DEFAULTS, listen: [{ host: '127.0.0.1', port: 2121 }] } },
    {
      title: 'repeated --listen, IPv4 and IPv6',
      input: { upstream: UPSTREAM, listen: ['0.0.0.0:21', '[::]:21'] },
      expected: { ...DEFAULTS, listen: [{ host: '0.0.0.0', port: 21 }, { host: '::', port: 21 }] },
    },
    {
      title: 'repeated --listen keeps the order given',
      input: { upstream: UPSTREAM, listen: ['[::1]:2121', '127.0.0.1:2121', '10.0.0.1:21'] },
      expected: { ...DEFAULTS, listen: [{ host: '::1', port: 2121 }, { host: '127.0.0.1', port: 2121 }, { host: '10.0.0.1', port: 21 }] },
    },
    { title: 'an empty --listen list falls back to the default', input: { upstream: UPSTREAM, listen: [] }, expected: DEFAULTS },
    { title: '--listen on port 0 (any free port)', input: { upstream: UPSTREAM, listen: '127.0.0.1:0' }, expected: { ...DEFAULTS, listen: [{ host: '127.0.0.1', port: 0 }] } },
    { title: 'an IPv6 upstream', input: { upstream: '[2001:db8::21]:2121' }, expected: { ...DEFAULTS, upstream: { host: '2001:db8::21', port: 2121 } } },
    { title: 'an IPv4 upstream', input: { upstream: '10.0.0.21:21' }, expected: { ...DEFAULTS, upstream: { host: '10.0.0.21', port: 21 } } },
    { title: '--public-address IPv4', input: { upstream: UPSTREAM, publicAddress: '203.0.113.7' }, expected: { ...DEFAULTS, publicAddress: '203.0.113.7' } },
    { title: '--public-address IPv6', input: { upstream: UPSTREAM, publicAddress: '2001:db8::7' }, expected: { ...DEFAULTS, publicAddress: '2001:db8::7' } },
    { title: '--public-address as a DNS name', input: { upstream: UPSTREAM, publicAddress: 'ftp.example.com' }, expected: { ...DEFAULTS, publicAddress: 'ftp.example.com' } },
    { title: '--public-address-refresh', input: { upstream: UPSTREAM, publicAddressRefresh: '10s' }, expected: { ...DEFAULTS, publicAddressRefreshMs: 10_000 } },
    { title: '--metrics-listen off', input: { upstream: UPSTREAM, metricsListen: 'off' }, expected: { ...DEFAULTS, metricsListen: undefined } },
    { title: '--metrics-listen on all interfaces', input: { upstream: UPSTREAM, metricsListen: '0.0.0.0:9100' }, expected: { ...DEFAULTS, metricsListen: { host: '0.0.0.0', port: 9100 } } },
    { title: '--metrics-listen on port 0', input: { upstream: UPSTREAM, metricsListen: '[::1]:0' }, expected: { ...DEFAULTS, metricsListen: { host: '::1', port: 0 } } },
    { title: '--passive-ports', input: { upstream: UPSTREAM, passivePorts: '50000-50099' }, expected: { ...DEFAULTS, passivePorts: { low: 50000, high: 50099 } } },
    { title: '--mode rewrite', input: { upstream: UPSTREAM, mode: 'rewrite' }, expected: { ...DEFAULTS, mode: 'rewrite' } },
    { title: '--epsv translate', input: { upstream: UPSTREAM, epsv: 'translate' }, expected: { ...DEFAULTS, epsv: 'translate' } },
    { title: '--epsv disable', input: { upstream: UPSTREAM, epsv: 'disable' }, expected: { ...DEFAULTS, epsv: 'disable' } },
    { title: '--active disable', input: { upstream: UPSTREAM, active: 'disable' }, expected: { ...DEFAULTS, active: 'disable' } },
    { title: '--log-level debug', input: { upstream: UPSTREAM, logLevel: 'debug' }, expected: { ...DEFAULTS, logLevel: 'debug' } },
    { title: '--passive-timeout in ms', input: { upstream: UPSTREAM, passiveTimeout: '1500ms' }, expected: { ...DEFAULTS, passiveTimeoutMs: 1500 } },
    { title: '--upstream-connect-timeout in bare seconds', input: { upstream: UPSTREAM, upstreamConnectTimeout: '3' }, expected: { ...DEFAULTS, upstreamConnectTimeoutMs: 3000 } },
    { title: '--max-sessions', input: { upstream: UPSTREAM, maxSessions: '250' }, expected: { ...DEFAULTS, maxSessions: 250 } },
    {
      title: 'every option at once',
      input: {
        listen: ['192.0.2.1:21', '[2001:db8::1]:21'],
        upstream: '[2001:db8::21]:21',
        publicAddress: '198.51.100.1',
        publicAddressRefresh: '5m',
        passivePorts: '1024-65535',
        mode: 'rewrite',
        epsv: 'translate',
        active: 'disable',
        logLevel: 'silent',
        metricsListen: 'off',
        passiveTimeout: '1s',
        upstreamConnectTimeout: '250ms',
        maxSessions: '1',
        allowClients: ['0.0.0.0/0'],
        denyClients: ['::/0'],
        maxSessionsPerClient: '1000000',
      },
      expected: {
        listen: [{ host: '192.0.2.1', port: 21 }, { host: '2001:db8::1', port: 21 }],
        upstream: { host: '2001:db8::21', port: 21 },
        publicAddress: '198.51.100.1',
        publicAddressRefreshMs: 300_000,
        passivePorts: { low: 1024, high: 65535 },
        mode: 'rewrite',
        epsv: 'translate',
        active: 'disable',
        logLevel: 'silent',
        metricsListen: undefined,
        passiveTimeoutMs: 1000,
        upstreamConnectTimeoutMs: 250,
        maxSessions: 1,
        allowClients: [{ family: 4, bytes: [0, 0, 0, 0], prefix: 0 }],
        denyClients: [{ family: 6, bytes: Array.from({ length: 16 }, () => 0), prefix: 0 }],
        maxSessionsPerClient: 1_000_000,
        advertise: [],
        passThroughClients: [],
        routes: [],
        passivePortSharing: false,
        advertisedPassivePortOffset: 0,
      },
    },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    expect(flat(buildConfig(input))).toEqual(expected);
  });

  it.each([
    ...MODES.map((value) => ({ key: 'mode' as const, value })),
    ...EPSV_MODES.map((value) => ({ key: 'epsv' as const, value })),
    ...ACTIVE_MODES.map((value) => ({ key: 'active' as const, value })),
    ...LOG_LEVELS.map((value) => ({ key: 'logLevel' as const, value })),
  ])('accepts every listed choice: $key $value', ({ key, value }) => {
    expect(flat(buildConfig({ upstream: UPSTREAM, [key]: value }))[key]).toBe(value);
  });

  it('does not change the raw options it is given', () => {
    const listen = ['0.0.0.0:21'];
    const raw: RawOptions = { upstream: UPSTREAM, listen };
    buildConfig(raw);
    buildConfig({ upstream: UPSTREAM, listen: [] });
    expect(listen).toEqual(['0.0.0.0:21']);
    expect(raw).toEqual({ upstream: UPSTREAM, listen: ['0.0.0.0:21'] });
  });
});

describe('buildConfig: the timeouts and the site name', () => {
  it('gives the one site the name default and every timeout its default', () => {
    const config = buildConfig({ upstream: UPSTREAM });
    expect(config.drainTimeoutMs).toBe(DEFAULT_TIMEOUTS_MS.drain);
    expect(config.sites.map((site) => [site.name, site.greetingTimeoutMs, site.loginTimeoutMs, site.idleTimeoutMs, site.dataStallTimeoutMs])).toEqual([
      [DEFAULT_SITE_NAME, DEFAULT_TIMEOUTS_MS.greeting, DEFAULT_TIMEOUTS_MS.login, DEFAULT_TIMEOUTS_MS.idle, DEFAULT_TIMEOUTS_MS.dataStall],
    ]);
  });

  it('takes each timeout from its flag', () => {
    const config = buildConfig({
      upstream: UPSTREAM,
      greetingTimeout: '5s',
      loginTimeout: '2m',
      idleTimeout: '1h',
      dataStallTimeout: '90',
      replyTimeout: '2m',
      drainTimeout: '1500ms',
    });
    expect(config.drainTimeoutMs).toBe(1500);
    const [site] = config.sites;
    expect([site?.greetingTimeoutMs, site?.loginTimeoutMs, site?.idleTimeoutMs, site?.dataStallTimeoutMs, site?.replyTimeoutMs]).toEqual([5000, 120_000, 3_600_000, 90_000, 120_000]);
  });

  it('gives the reply timeout 60 s and the command line cap 4096 bytes by default, and takes --max-command-bytes', () => {
    const [site] = buildConfig({ upstream: UPSTREAM }).sites;
    expect([site?.replyTimeoutMs, site?.maxCommandBytes]).toEqual([60_000, 4096]);
    expect(buildConfig({ upstream: UPSTREAM, maxCommandBytes: '512' }).sites[0]?.maxCommandBytes).toBe(512);
  });
});

describe('buildConfig with a missing or bad value', () => {
  const IP_FORM = 'IP:PORT or [IPv6]:PORT';
  const HOST_FORM = 'HOST:PORT or [IPv6]:PORT';

  const DURATION_FORM = 'a duration such as 30s, 1.5s, 500ms or 5m';
  const cases: { title: string; input: RawOptions; expected: { field: string; expected: string; received: string }; message?: string }[] = [
    {
      title: 'no --upstream',
      input: {},
      expected: { field: '--upstream', expected: 'HOST:PORT (required)', received: '' },
      message: '--upstream: expected HOST:PORT (required), got nothing',
    },
    {
      title: 'no --upstream, other options given',
      input: { listen: '0.0.0.0:21', mode: 'relay' },
      expected: { field: '--upstream', expected: 'HOST:PORT (required)', received: '' },
      message: '--upstream: expected HOST:PORT (required), got nothing',
    },
    { title: '--upstream without a port', input: { upstream: 'ftp.internal' }, expected: { field: '--upstream', expected: HOST_FORM, received: 'ftp.internal' } },
    { title: '--upstream on port 0', input: { upstream: 'ftp.internal:0' }, expected: { field: '--upstream', expected: `${HOST_FORM} with a port from 1 to 65535`, received: 'ftp.internal:0' } },
    { title: '--upstream empty', input: { upstream: '' }, expected: { field: '--upstream', expected: HOST_FORM, received: '' } },
    { title: '--listen with a host name', input: { upstream: UPSTREAM, listen: 'localhost:21' }, expected: { field: '--listen', expected: IP_FORM, received: 'localhost:21' } },
    { title: '--listen port 70000', input: { upstream: UPSTREAM, listen: '0.0.0.0:70000' }, expected: { field: '--listen', expected: `${IP_FORM} with a port from 0 to 65535`, received: '0.0.0.0:70000' } },
    { title: 'the second of two --listen values', input: { upstream: UPSTREAM, listen: ['0.0.0.0:21', '::21'] }, expected: { field: '--listen', expected: IP_FORM, received: '::21' } },
    { title: '--public-address with a port', input: { upstream: UPSTREAM, publicAddress: '203.0.113.7:21' }, expected: { field: '--public-address', expected: 'an IPv4 or IPv6 address, or a DNS name', received: '203.0.113.7:21' } },
    { title: '--upstream-preconnect above 64', input: { upstream: UPSTREAM, upstreamPreconnect: '65' }, expected: { field: '--upstream-preconnect', expected: 'a whole number from 0 to 64', received: '65' } },
    { title: '--upstream-preconnect-max-age not a duration', input: { upstream: UPSTREAM, upstreamPreconnect: '2', upstreamPreconnectMaxAge: 'soon' }, expected: { field: '--upstream-preconnect-max-age', expected: 'a duration such as 30s, 1.5s, 500ms or 5m', received: 'soon' } },
    { title: '--public-address-refresh below 1s', input: { upstream: UPSTREAM, publicAddressRefresh: '500ms' }, expected: { field: '--public-address-refresh', expected: 'a duration of at least 1s', received: '500ms' } },
    { title: '--passive-ports below 1024', input: { upstream: UPSTREAM, passivePorts: '1000-2000' }, expected: { field: '--passive-ports', expected: 'LOW-HIGH with 1024 <= LOW <= HIGH <= 65535', received: '1000-2000' } },
    { title: '--passive-ports reversed', input: { upstream: UPSTREAM, passivePorts: '60999-60000' }, expected: { field: '--passive-ports', expected: 'LOW-HIGH with 1024 <= LOW <= HIGH <= 65535', received: '60999-60000' } },
    { title: '--mode unknown', input: { upstream: UPSTREAM, mode: 'nat' }, expected: { field: '--mode', expected: 'one of relay|rewrite|kernel', received: 'nat' } },
    { title: '--epsv unknown', input: { upstream: UPSTREAM, epsv: 'on' }, expected: { field: '--epsv', expected: 'one of passthrough|translate|disable', received: 'on' } },
    { title: '--active unknown', input: { upstream: UPSTREAM, active: 'yes' }, expected: { field: '--active', expected: 'one of relay|disable', received: 'yes' } },
    { title: '--log-level unknown', input: { upstream: UPSTREAM, logLevel: 'verbose' }, expected: { field: '--log-level', expected: 'one of fatal|error|warn|info|debug|trace|silent', received: 'verbose' } },
    { title: '--metrics-listen with a host name', input: { upstream: UPSTREAM, metricsListen: 'localhost:9464' }, expected: { field: '--metrics-listen', expected: IP_FORM, received: 'localhost:9464' } },
    { title: '--metrics-listen OFF (off is lower case)', input: { upstream: UPSTREAM, metricsListen: 'OFF' }, expected: { field: '--metrics-listen', expected: IP_FORM, received: 'OFF' } },
    { title: '--metrics-listen empty', input: { upstream: UPSTREAM, metricsListen: '' }, expected: { field: '--metrics-listen', expected: IP_FORM, received: '' } },
    { title: '--passive-timeout in days', input: { upstream: UPSTREAM, passiveTimeout: '5d' }, expected: { field: '--passive-timeout', expected: DURATION_FORM, received: '5d' } },
    { title: '--passive-timeout zero', input: { upstream: UPSTREAM, passiveTimeout: '0s' }, expected: { field: '--passive-timeout', expected: 'a duration above zero', received: '0s' } },
    { title: '--upstream-connect-timeout a word', input: { upstream: UPSTREAM, upstreamConnectTimeout: 'soon' }, expected: { field: '--upstream-connect-timeout', expected: DURATION_FORM, received: 'soon' } },
    { title: '--greeting-timeout a decimal comma', input: { upstream: UPSTREAM, greetingTimeout: '1,5s' }, expected: { field: '--greeting-timeout', expected: DURATION_FORM, received: '1,5s' } },
    { title: '--login-timeout zero', input: { upstream: UPSTREAM, loginTimeout: '0' }, expected: { field: '--login-timeout', expected: 'a duration above zero', received: '0' } },
    { title: '--idle-timeout beyond the timer limit', input: { upstream: UPSTREAM, idleTimeout: '597h' }, expected: { field: '--idle-timeout', expected: 'a duration of at most 2147483647ms', received: '597h' } },
    { title: '--data-stall-timeout negative', input: { upstream: UPSTREAM, dataStallTimeout: '-1s' }, expected: { field: '--data-stall-timeout', expected: DURATION_FORM, received: '-1s' } },
    { title: '--drain-timeout upper-case unit', input: { upstream: UPSTREAM, drainTimeout: '30S' }, expected: { field: '--drain-timeout', expected: DURATION_FORM, received: '30S' } },
    { title: '--workers zero', input: { upstream: UPSTREAM, workers: '0' }, expected: { field: '--workers', expected: 'auto or a whole number from 1 to 256', received: '0' } },
    { title: '--workers a word other than auto', input: { upstream: UPSTREAM, workers: 'all' }, expected: { field: '--workers', expected: 'auto or a whole number from 1 to 256', received: 'all' } },
    { title: '--reply-timeout zero', input: { upstream: UPSTREAM, replyTimeout: '0s' }, expected: { field: '--reply-timeout', expected: 'a duration above zero', received: '0s' } },
    { title: '--max-command-bytes below a PORT line', input: { upstream: UPSTREAM, maxCommandBytes: '64' }, expected: { field: '--max-command-bytes', expected: 'a whole number from 128 to 4096', received: '64' } },
    { title: "--max-command-bytes above the command parser's limit (4096)", input: { upstream: UPSTREAM, maxCommandBytes: '4097' }, expected: { field: '--max-command-bytes', expected: 'a whole number from 128 to 4096', received: '4097' } },
    { title: '--max-sessions zero', input: { upstream: UPSTREAM, maxSessions: '0' }, expected: { field: '--max-sessions', expected: 'a whole number from 1 to 1000000', received: '0' } },
    {
      title: '--allow-client with host bits set',
      input: { upstream: UPSTREAM, allowClients: ['10.0.11.1/24'] },
      expected: { field: '--allow-client', expected: CIDR_FORM, received: '10.0.11.1/24' },
      message: `--allow-client: expected ${CIDR_FORM}, got "10.0.11.1/24": host bits are set; the network is 10.0.11.0/24`,
    },
    {
      title: 'the second --deny-client a host name',
      input: { upstream: UPSTREAM, denyClients: ['192.0.2.0/24', 'evil.example'] },
      expected: { field: '--deny-client', expected: CIDR_FORM, received: 'evil.example' },
      message: `--deny-client: expected ${CIDR_FORM}, got "evil.example": not an IP address`,
    },
    {
      title: '--deny-client with a prefix past the family',
      input: { upstream: UPSTREAM, denyClients: ['192.0.2.0/33'] },
      expected: { field: '--deny-client', expected: CIDR_FORM, received: '192.0.2.0/33' },
      message: `--deny-client: expected ${CIDR_FORM}, got "192.0.2.0/33": the prefix length is above 32`,
    },
    {
      title: '--max-sessions-per-client zero',
      input: { upstream: UPSTREAM, maxSessionsPerClient: '0' },
      expected: { field: '--max-sessions-per-client', expected: 'a whole number from 1 to 1000000', received: '0' },
    },
    { title: '--tls-key without --tls-cert', input: { upstream: UPSTREAM, tlsKey: '/x' }, expected: { field: '--tls-cert', expected: 'a certificate file beside tlsKey', received: 'nothing' } },
    { title: '--tls-cert without --tls-key', input: { upstream: UPSTREAM, tlsCert: '/x' }, expected: { field: '--tls-key', expected: 'a private key file beside tlsCert', received: 'nothing' } },
    { title: '--tls-listen without a certificate', input: { upstream: UPSTREAM, tlsListen: '0.0.0.0:990' }, expected: { field: '--tls-listen', expected: 'a certificate (tlsCert and tlsKey) with tlsListen', received: '0.0.0.0:990' } },
    { title: '--client-tls unknown', input: { upstream: UPSTREAM, clientTls: 'maybe' }, expected: { field: '--client-tls', expected: 'one of optional|required', received: 'maybe' } },
    {
      title: '--client-tls required without a certificate',
      input: { upstream: UPSTREAM, clientTls: 'required' },
      expected: { field: '--client-tls', expected: 'a certificate (tlsCert and tlsKey) with clientTls required', received: 'required' },
    },
    { title: '--data-tls-reuse unknown', input: { upstream: UPSTREAM, dataTlsReuse: 'always' }, expected: { field: '--data-tls-reuse', expected: 'one of required|optional', received: 'always' } },
    { title: '--allow-clear-data yes', input: { upstream: UPSTREAM, allowClearData: 'yes' }, expected: { field: '--allow-clear-data', expected: 'one of true|false', received: 'yes' } },
    { title: '--upstream-tls unknown', input: { upstream: UPSTREAM, upstreamTls: 'starttls' }, expected: { field: '--upstream-tls', expected: 'one of off|explicit|implicit', received: 'starttls' } },
    {
      title: '--upstream-tls-ca unreadable',
      input: { upstream: UPSTREAM, upstreamTls: 'explicit', allowPlainClients: 'true', upstreamTlsCa: '/nonexistent/ca.pem' },
      expected: { field: '--upstream-tls-ca', expected: 'a readable PEM file of CA certificates', received: "/nonexistent/ca.pem (ENOENT: no such file or directory, open '/nonexistent/ca.pem')" },
    },
    {
      title: '--upstream-tls-fingerprint too short',
      input: { upstream: UPSTREAM, upstreamTls: 'implicit', allowPlainClients: 'true', upstreamTlsFingerprint: 'AB:CD' },
      expected: { field: '--upstream-tls-fingerprint', expected: 'a SHA-256 fingerprint: 64 hex digits, colons between byte pairs optional', received: 'AB:CD' },
    },
    {
      title: '--upstream-tls explicit without a certificate: every client would log in in clear',
      input: { upstream: UPSTREAM, upstreamTls: 'explicit' },
      expected: { field: '--allow-plain-clients', expected: 'tlsCert and tlsKey (clients log in over TLS), or allowPlainClients: true', received: 'false' },
    },
    { title: '--allow-plain-clients yes', input: { upstream: UPSTREAM, allowPlainClients: 'yes' }, expected: { field: '--allow-plain-clients', expected: 'one of true|false', received: 'yes' } },
    { title: '--proxy-protocol-data yes', input: { upstream: UPSTREAM, proxyProtocolData: 'yes' }, expected: { field: '--proxy-protocol-data', expected: 'one of true|false', received: 'yes' } },
    { title: '--upstream-proxy-protocol v3', input: { upstream: UPSTREAM, upstreamProxyProtocol: 'v3' }, expected: { field: '--upstream-proxy-protocol', expected: 'one of off|v1|v2', received: 'v3' } },
    { title: '--upstream-proxy-protocol-data 1', input: { upstream: UPSTREAM, upstreamProxyProtocolData: '1' }, expected: { field: '--upstream-proxy-protocol-data', expected: 'one of true|false', received: '1' } },
    {
      title: '--passive-port-slice without a count',
      input: { upstream: UPSTREAM, passivePortSlice: '2' },
      expected: { field: '--passive-port-slice', expected: SLICE_FORM, received: '2' },
    },
    {
      title: '--passive-port-slice with more slices than ports',
      input: { upstream: UPSTREAM, passivePorts: '60000-60001', passivePortSlice: '2/3' },
      expected: { field: '--passive-port-slice', expected: SLICE_FORM, received: '2/3' },
      message: '--passive-port-slice: the passive range 60000-60001 has 2 ports, too few for 3 slices (at least one port each)',
    },
    { title: '--passive-port-sharing yes', input: { upstream: UPSTREAM, passivePortSharing: 'yes' }, expected: { field: '--passive-port-sharing', expected: 'one of true|false', received: 'yes' } },
    {
      title: '--advertised-passive-port-offset past the port space',
      input: { upstream: UPSTREAM, advertisedPassivePortOffset: '70000' },
      expected: { field: '--advertised-passive-port-offset', expected: OFFSET_FORM, received: '70000' },
    },
    { title: '--max-sessions not a number', input: { upstream: UPSTREAM, maxSessions: 'lots' }, expected: { field: '--max-sessions', expected: 'a whole number from 1 to 1000000', received: 'lots' } },
  ];

  it.each(cases)('$title', ({ input, expected, message }) => {
    const error = configErrorOf(() => buildConfig(input));
    expect({ field: error.field, expected: error.expected, received: error.received }).toEqual(expected);
    // The CLI's one line names the flag, the expected form and the value received.
    expect(error.message).toBe(message ?? `${expected.field}: expected ${expected.expected}, got ${JSON.stringify(expected.received)}`);
  });

  it('every option in OPTION_SPECS has a bad-value case above naming its flag', () => {
    const tested = new Set(cases.map((testCase) => testCase.expected.field));
    expect([...tested].sort()).toEqual(OPTION_SPECS.map((spec) => spec.flag).sort());
  });
});

describe('OPTION_SPECS', () => {
  it('has unique keys and flags, each flag the kebab-case of its key (a list of clients: one client per flag)', () => {
    const keys = OPTION_SPECS.map((spec) => spec.key);
    const flags = OPTION_SPECS.map((spec) => spec.flag);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Set(flags).size).toBe(flags.length);
    for (const spec of OPTION_SPECS) {
      const kebab = `--${spec.key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
      expect(spec.flag).toBe(spec.repeatable === true ? kebab.replace(/-clients$/, '-client') : kebab);
    }
  });

  it('only --log-level, --metrics-listen, --drain-timeout and --workers are process-wide', () => {
    expect(OPTION_SPECS.filter((spec) => spec.scope === 'process').map((spec) => spec.flag)).toEqual(['--log-level', '--metrics-listen', '--drain-timeout', '--workers']);
  });

  it('only --upstream, --public-address, the client lists and the TLS settings lack a default; only --listen, the client lists and --tls-listen repeat', () => {
    expect(OPTION_SPECS.filter((spec) => spec.defaultValue === undefined).map((spec) => spec.flag).sort()).toEqual([
      '--allow-client',
      '--deny-client',
      '--passive-port-slice',
      '--public-address',
      '--tls-cert',
      '--tls-key',
      '--tls-listen',
      '--upstream',
      '--upstream-tls-ca',
      '--upstream-tls-fingerprint',
    ]);
    expect(OPTION_SPECS.filter((spec) => spec.repeatable === true).map((spec) => spec.flag)).toEqual(['--listen', '--allow-client', '--deny-client', '--tls-listen']);
  });

  it('every default, given explicitly, builds the same config as leaving it out', () => {
    const explicit: RawOptions = { upstream: UPSTREAM };
    for (const spec of OPTION_SPECS) {
      if (spec.defaultValue !== undefined) explicit[spec.key] = spec.defaultValue;
    }
    expect(buildConfig(explicit)).toEqual(buildConfig({ upstream: UPSTREAM }));
  });

  it('lists the choices of each choice option in its value name', () => {
    const valueName = (flag: string): string | undefined => OPTION_SPECS.find((spec) => spec.flag === flag)?.valueName;
    expect(valueName('--mode')).toBe(MODES.join('|'));
    expect(valueName('--epsv')).toBe(EPSV_MODES.join('|'));
    expect(valueName('--active')).toBe(ACTIVE_MODES.join('|'));
    expect(valueName('--log-level')).toBe(LOG_LEVELS.join('|'));
  });
});
