import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  canonicalJson,
  COMMAND_LINE_SOURCE,
  configFromDocument,
  hashConfig,
  loadConfig,
  parseConfigText,
} from '../../../src/config/load-config.js';
import { buildConfig, type RawOptions } from '../../../src/config/schema.js';
import type { DaemonConfig } from '../../../src/config/types.js';
import { ADVERTISE_FORM } from '../../../src/config/document-schema.js';
import { CIDR_FORM } from '../../../src/protocol/cidr.js';
import { configErrorOf } from './config-error-of.js';

const SOURCE = '/etc/ftpmasq.yaml';

function configOf(text: string, flags: RawOptions = {}): DaemonConfig {
  return configFromDocument(parseConfigText(text, SOURCE), { source: SOURCE, flags });
}

function messageOf(text: string, flags: RawOptions = {}): string {
  return configErrorOf(() => configOf(text, flags)).message;
}

/** YAML for a file with sites; each site is `key: value` lines. */
function sitesFile(...sites: string[][]): string {
  return `sites:\n${sites.map((lines) => lines.map((line, index) => `${index === 0 ? '  - ' : '    '}${line}`).join('\n')).join('\n')}\n`;
}

const A = ['name: a', 'upstream: 10.0.0.1:21', 'listen: 127.0.0.1:2121', 'passivePorts: 60000-60099'];
const B = ['name: b', 'upstream: 10.0.0.2:21', 'listen: 127.0.0.1:2122', 'passivePorts: 60100-60199'];
const SITE_KEY_LIST =
  'name, listen, upstream, publicAddress, publicAddressRefresh, passivePorts, mode, epsv, active, passiveTimeout, upstreamConnectTimeout, maxSessions, greetingTimeout, loginTimeout, idleTimeout, dataStallTimeout, allowClients, denyClients, maxSessionsPerClient, advertise, passThroughClients, replyTimeout, maxCommandBytes, tlsCert, tlsKey, tlsListen, clientTls, dataTlsReuse, allowClearData, routes, upstreamTls, upstreamTlsCa, upstreamTlsFingerprint, allowPlainClients, proxyProtocol, proxyProtocolData, upstreamProxyProtocol, upstreamProxyProtocolData, passivePortSlice, passivePortSharing, advertisedPassivePortOffset, upstreamPreconnect, upstreamPreconnectMaxAge';
const FLAT_KEY_LIST =
  'listen, upstream, publicAddress, publicAddressRefresh, passivePorts, mode, epsv, active, passiveTimeout, upstreamConnectTimeout, maxSessions, greetingTimeout, loginTimeout, idleTimeout, dataStallTimeout, allowClients, denyClients, maxSessionsPerClient, advertise, passThroughClients, replyTimeout, maxCommandBytes, tlsCert, tlsKey, tlsListen, clientTls, dataTlsReuse, allowClearData, routes, upstreamTls, upstreamTlsCa, upstreamTlsFingerprint, allowPlainClients, proxyProtocol, proxyProtocolData, upstreamProxyProtocol, upstreamProxyProtocolData, passivePortSlice, passivePortSharing, advertisedPassivePortOffset, upstreamPreconnect, upstreamPreconnectMaxAge, logLevel, metricsListen, drainTimeout, workers, sites';

describe('configFromDocument: valid files', () => {
  it('reads a file with two sites, every default filled in', () => {
    const config = configOf(`logLevel: debug\nmetricsListen: off\ndrainTimeout: 2m\n${sitesFile(A, [...B, 'mode: rewrite', 'maxSessions: 5', 'idleTimeout: 10m'])}`);
    expect(config.logLevel).toBe('debug');
    expect(config.metricsListen).toBeUndefined();
    expect(config.drainTimeoutMs).toBe(120_000);
    expect(config.sites.map((site) => site.name)).toEqual(['a', 'b']);
    expect(config.sites[0]).toEqual({
      name: 'a',
      listen: [{ host: '127.0.0.1', port: 2121 }],
      upstream: { host: '10.0.0.1', port: 21 },
      publicAddress: undefined,
      publicAddressRefreshMs: 60_000,
      passivePorts: { low: 60000, high: 60099 },
      mode: 'relay',
      epsv: 'passthrough',
      active: 'relay',
      passiveTimeoutMs: 30_000,
      upstreamConnectTimeoutMs: 10_000,
      maxSessions: 10_000,
      greetingTimeoutMs: 10_000,
      loginTimeoutMs: 60_000,
      idleTimeoutMs: 600_000,
      dataStallTimeoutMs: 300_000,
      allowClients: [],
      denyClients: [],
      maxSessionsPerClient: undefined,
      advertise: [],
      passThroughClients: [],
      replyTimeoutMs: 60_000,
      maxCommandBytes: 4096,
      routes: [],
      proxyProtocol: undefined,
      proxyProtocolData: false,
      upstreamProxyProtocol: 'off',
      upstreamProxyProtocolData: false,
      passivePortSharing: false,
      advertisedPassivePortOffset: 0,
    });
    expect(config.sites[1]).toMatchObject({ mode: 'rewrite', maxSessions: 5, idleTimeoutMs: 600_000 });
  });

  it('reads a file without sites: as the one site "default", as the flags would give it', () => {
    const text = 'upstream: 10.0.0.1:21\nlisten: ["0.0.0.0:21", "[::]:21"]\npassivePorts: 50000-50099\nmaxSessions: 500\npassiveTimeout: 30\n';
    expect(configOf(text)).toEqual(
      buildConfig({ upstream: '10.0.0.1:21', listen: ['0.0.0.0:21', '[::]:21'], passivePorts: '50000-50099', maxSessions: '500', passiveTimeout: '30s' }),
    );
  });

  it('reads an empty file as no keys, so the flags alone make the config', () => {
    expect(configOf('', { upstream: '10.0.0.1:21' })).toEqual(buildConfig({ upstream: '10.0.0.1:21' }));
    expect(configOf('# only a comment\n', { upstream: '10.0.0.1:21' })).toEqual(buildConfig({ upstream: '10.0.0.1:21' }));
  });

  it('lets every flag win over a file without sites:', () => {
    const config = configOf('upstream: 10.0.0.1:21\nmode: rewrite\nlisten: 0.0.0.0:21\nlogLevel: warn\n', {
      mode: 'relay',
      listen: ['[::]:21'],
      logLevel: 'error',
    });
    expect(config.logLevel).toBe('error');
    expect(config.sites[0]).toMatchObject({ mode: 'relay', listen: [{ host: '::', port: 21 }], upstream: { host: '10.0.0.1', port: 21 } });
  });

  it('lets process flags win over a file with sites:', () => {
    const config = configOf(`logLevel: warn\nmetricsListen: 127.0.0.1:9100\n${sitesFile(A)}`, {
      logLevel: 'debug',
      metricsListen: 'off',
      drainTimeout: '5s',
    });
    expect([config.logLevel, config.metricsListen, config.drainTimeoutMs]).toEqual(['debug', undefined, 5000]);
  });

  it('ignores flags left undefined (a caller spreading optional values)', () => {
    expect(configOf(sitesFile(A), { passivePorts: undefined, logLevel: undefined }).sites).toHaveLength(1);
  });

  it('reads durations with a fraction or in minutes, as text and as YAML numbers (bare seconds)', () => {
    const config = configOf(sitesFile([...A, 'idleTimeout: 5m', 'loginTimeout: 1.5s', 'greetingTimeout: 2.5', 'dataStallTimeout: 0.5m']));
    expect(config.sites[0]).toMatchObject({ idleTimeoutMs: 300_000, loginTimeoutMs: 1500, greetingTimeoutMs: 2500, dataStallTimeoutMs: 30_000 });
  });

  it('accepts sites that touch but do not overlap', () => {
    const config = configOf(
      sitesFile(
        ['name: a', 'upstream: x:21', 'listen: ["127.0.0.1:21", "[::1]:21"]', 'passivePorts: 60000-60099'],
        ['name: b', 'upstream: y:21', 'listen: ["127.0.0.2:21", "127.0.0.1:22"]', 'passivePorts: 60100-60199'],
        ['name: c', 'upstream: z:21', 'listen: ["127.0.0.1:0", "0.0.0.0:23"]', 'passivePorts: 60050-60150', 'mode: rewrite'],
        ['name: d', 'upstream: z:21', 'listen: "127.0.0.1:0"', 'passivePorts: 60200-60200'],
      ),
    );
    expect(config.sites.map((site) => site.name)).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('configFromDocument: every kind of error, one line with the key path', () => {
  const cases: { title: string; text: string; flags?: RawOptions; message: string }[] = [
    // YAML syntax: FILE:LINE:COLUMN
    { title: 'a duplicate key', text: 'upstream: a:21\nupstream: b:21\n', message: `${SOURCE}:2:1: invalid YAML: Map keys must be unique` },
    {
      title: 'an unclosed flow list',
      text: 'sites:\n  - name: a\n    listen: [1, 2\n',
      message: `${SOURCE}:4:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    },
    { title: 'an unclosed quote', text: 'upstream: "a:21\n', message: `${SOURCE}:2:1: invalid YAML: Missing closing "quote` },
    { title: 'a tab as indentation', text: 'sites:\n\t- name: a\n', message: `${SOURCE}:2:1: invalid YAML: Tabs are not allowed as indentation` },
    { title: 'two documents', text: 'upstream: a:21\n---\nupstream: b:21\n', message: `${SOURCE}:2:1: invalid YAML: Source contains multiple documents; please use YAML.parseAllDocuments()` },
    { title: 'an alias without its anchor', text: 'upstream: *server\n', message: `${SOURCE}: invalid YAML: Unresolved alias (the anchor must be set before the alias): server` },
    {
      title: 'aliases that expand exponentially (a YAML bomb)',
      text: `a: &a [x, x, x, x, x, x, x, x, x, x]\n${'bcdefghij'
        .split('')
        .map((name, index) => `${name}: &${name} [${Array(10).fill(`*${'abcdefghij'[index]}`).join(', ')}]`)
        .join('\n')}\n`,
      message: `${SOURCE}: invalid YAML: Excessive alias count indicates a resource exhaustion attack`,
    },
    { title: 'a list that contains itself', text: 'upstream: a:21\nlisten: &self ["127.0.0.1:21", *self]\n', message: `${SOURCE}: listen[1]: expected IP:PORT or [IPv6]:PORT, got a list` },
    // The document itself
    { title: 'a list at the top', text: '- upstream: a:21\n', message: `${SOURCE}: expected a mapping of config keys (sites:, or the keys of one site), got a list` },
    { title: 'text at the top', text: 'upstream\n', message: `${SOURCE}: expected a mapping of config keys (sites:, or the keys of one site), got "upstream"` },
    // Unknown keys: the nearest valid key, or the keys valid there
    { title: 'a mistyped site key', text: sitesFile([...A, 'pasiveTimeout: 3s']), message: `${SOURCE}: sites[0].pasiveTimeout: unknown key; did you mean passiveTimeout?` },
    {
      title: 'a mistyped key reported before the missing key it stands for',
      text: sitesFile(['name: a', 'upstrem: 10.0.0.1:21']),
      message: `${SOURCE}: sites[0].upstrem: unknown key; did you mean upstream?`,
    },
    { title: 'a flag-style key', text: 'upstream: a:21\npassive-ports: 60000-60099\n', message: `${SOURCE}: passive-ports: unknown key; did you mean passivePorts?` },
    { title: 'a key in the wrong case', text: 'upstream: a:21\nMaxSessions: 5\n', message: `${SOURCE}: MaxSessions: unknown key; did you mean maxSessions?` },
    { title: 'site: for sites:', text: 'site:\n  - name: a\n', message: `${SOURCE}: site: unknown key; did you mean sites?` },
    { title: 'a mistyped process key', text: `logLevl: debug\n${sitesFile(A)}`, message: `${SOURCE}: logLevl: unknown key; did you mean logLevel?` },
    { title: 'an unknown site key', text: sitesFile([...A, 'colour: red']), message: `${SOURCE}: sites[0].colour: unknown key; expected one of ${SITE_KEY_LIST}` },
    { title: 'an unknown key in the second site', text: sitesFile(A, [...B, 'password: x']), message: `${SOURCE}: sites[1].password: unknown key; expected one of ${SITE_KEY_LIST}` },
    { title: 'an unknown key at the top of a sites file', text: `colour: red\n${sitesFile(A)}`, message: `${SOURCE}: colour: unknown key; expected one of logLevel, metricsListen, drainTimeout, workers, sites` },
    { title: 'an unknown key in a one-site file', text: 'upstream: a:21\ntimeout: 5s\n', message: `${SOURCE}: timeout: unknown key; expected one of ${FLAT_KEY_LIST}` },
    // Keys valid elsewhere
    {
      title: 'a per-site key beside sites:',
      text: `upstream: a:21\n${sitesFile(A)}`,
      message: `${SOURCE}: upstream: a per-site key cannot stand beside sites:; set it in each site (sites[].upstream)`,
    },
    {
      title: 'a process key inside a site',
      text: sitesFile([...A, 'logLevel: debug']),
      message: `${SOURCE}: sites[0].logLevel: a process-wide key, not a site key; set it once at the top of the file`,
    },
    {
      title: 'a name in a one-site file',
      text: 'name: main\nupstream: a:21\n',
      message: `${SOURCE}: name: a file without sites: is one site, named "default"; to name sites, list them under sites:`,
    },
    // Wrong types
    { title: 'a mapping for an address', text: 'upstream:\n  host: a\n', message: `${SOURCE}: upstream: expected HOST:PORT, got a mapping` },
    { title: 'a list for a range', text: sitesFile(['name: a', 'upstream: a:21', 'passivePorts: [60000, 60099]']), message: `${SOURCE}: sites[0].passivePorts: expected LOW-HIGH (e.g. 60000-60999), got a list` },
    { title: 'a boolean for a duration', text: 'upstream: a:21\nidleTimeout: true\n', message: `${SOURCE}: idleTimeout: expected a duration such as 30s, 1.5s, 500ms or 5m, got true` },
    { title: 'an empty value', text: 'upstream:\n', message: `${SOURCE}: upstream: expected HOST:PORT, got an empty value` },
    { title: 'an empty public address', text: 'upstream: a:21\npublicAddress:\n', message: `${SOURCE}: publicAddress: expected an IPv4 or IPv6 address, or a DNS name, got an empty value` },
    { title: 'a mapping in a listen list', text: 'upstream: a:21\nlisten: ["127.0.0.1:21", {host: x}]\n', message: `${SOURCE}: listen[1]: expected IP:PORT or [IPv6]:PORT, got a mapping` },
    { title: 'a mapping for listen', text: 'upstream: a:21\nlisten: {host: x}\n', message: `${SOURCE}: listen: expected IP:PORT or a list of them, got a mapping` },
    { title: 'a number for a choice', text: 'upstream: a:21\nmode: 5\n', message: `${SOURCE}: mode: expected one of relay|rewrite|kernel, got 5` },
    // Values of the wrong form: the parsers' own expected form, the value as text
    {
      title: 'one number for a passive range',
      text: sitesFile(A, ['name: b', 'upstream: 10.0.0.2:21', 'passivePorts: 60000']),
      message: `${SOURCE}: sites[1].passivePorts: expected LOW-HIGH with 1024 <= LOW <= HIGH <= 65535, got "60000"`,
    },
    { title: 'maxSessions: lots names the key, not the flag', text: 'upstream: a:21\nmaxSessions: lots\n', message: `${SOURCE}: maxSessions: expected a whole number from 1 to 1000000, got "lots"` },
    { title: 'a number out of range', text: sitesFile([...A, 'maxSessions: 0']), message: `${SOURCE}: sites[0].maxSessions: expected a whole number from 1 to 1000000, got "0"` },
    { title: 'a bad duration', text: sitesFile([...A, 'loginTimeout: 1.5d']), message: `${SOURCE}: sites[0].loginTimeout: expected a duration such as 30s, 1.5s, 500ms or 5m, got "1.5d"` },
    // Who may connect and what each network is told: every bad item named by its index
    {
      title: 'the third deny block',
      text: sitesFile([...A, 'denyClients: [192.0.2.0/24, "2001:db8::/32", 10.0.0.300/8]']),
      message: `${SOURCE}: sites[0].denyClients[2]: expected ${CIDR_FORM}, got "10.0.0.300/8": not an IP address`,
    },
    {
      title: 'one allow block with host bits',
      text: 'upstream: a:21\nallowClients: 10.0.11.1/24\n',
      message: `${SOURCE}: allowClients: expected ${CIDR_FORM}, got "10.0.11.1/24": host bits are set; the network is 10.0.11.0/24`,
    },
    {
      title: 'a mapping for allowClients',
      text: 'upstream: a:21\nallowClients: {a: 1}\n',
      message: `${SOURCE}: allowClients: expected ${CIDR_FORM}, or a list of them, got a mapping`,
    },
    {
      title: 'maxSessionsPerClient zero',
      text: sitesFile([...A, 'maxSessionsPerClient: 0']),
      message: `${SOURCE}: sites[0].maxSessionsPerClient: expected a whole number from 1 to 1000000, got "0"`,
    },
    {
      title: 'an advertise rule with an IPv6 address',
      text: sitesFile([...A, 'advertise: [{clients: 10.0.11.0/24, address: "2001:db8::1"}]']),
      message: `${SOURCE}: sites[0].advertise[0].address: expected an IPv4 address, got "2001:db8::1"`,
    },
    {
      title: 'the second block of the second advertise rule',
      text: sitesFile([...A, 'advertise: [{clients: 10.0.0.0/8, address: 10.0.0.1}, {clients: [172.16.0.0/12, nope], address: 172.16.0.1}]']),
      message: `${SOURCE}: sites[0].advertise[1].clients[1]: expected ${CIDR_FORM}, got "nope": not an IP address`,
    },
    {
      title: 'an advertise rule without an address',
      text: sitesFile([...A, 'advertise: [{clients: 10.0.0.0/8}]']),
      message: `${SOURCE}: sites[0].advertise[0].address: expected an IPv4 address (required), got nothing`,
    },
    {
      title: 'a misspelt key in an advertise rule',
      text: sitesFile([...A, 'advertise: [{client: 10.0.0.0/8, address: 10.0.0.1}]']),
      message: `${SOURCE}: sites[0].advertise[0].client: unknown key; did you mean clients?`,
    },
    {
      title: 'advertise as one mapping, not a list',
      text: 'upstream: a:21\nadvertise: {clients: 10.0.0.0/8, address: 10.0.0.1}\n',
      message: `${SOURCE}: advertise: expected ${ADVERTISE_FORM}, got a mapping`,
    },
    {
      title: 'a pass-through block',
      text: 'upstream: a:21\nmode: rewrite\npassThroughClients: [10.0.11.0/33]\n',
      message: `${SOURCE}: passThroughClients[0]: expected ${CIDR_FORM}, got "10.0.11.0/33": the prefix length is above 32`,
    },
    {
      title: 'advertise in rewrite mode',
      text: sitesFile([...A, 'mode: rewrite', 'advertise: [{clients: 10.0.0.0/8, address: 10.0.0.1}]']),
      message: `${SOURCE}: sites[0].advertise: advertise applies in relay mode only; in rewrite mode, passThroughClients lets clients use the server's own 227`,
    },
    {
      title: 'passThroughClients in relay mode',
      text: 'upstream: a:21\npassThroughClients: 10.0.0.0/8\n',
      message: `${SOURCE}: passThroughClients: passThroughClients applies in rewrite mode only; in relay mode, advertise tells each network its address`,
    },
    { title: 'a bad drain timeout', text: `drainTimeout: 0s\n${sitesFile(A)}`, message: `${SOURCE}: drainTimeout: expected a duration above zero, got "0s"` },
    { title: 'the second listen address', text: 'upstream: a:21\nlisten: ["127.0.0.1:21", "localhost:21"]\n', message: `${SOURCE}: listen[1]: expected IP:PORT or [IPv6]:PORT, got "localhost:21"` },
    { title: 'one listen address', text: 'upstream: a:21\nlisten: 0.0.0.0:70000\n', message: `${SOURCE}: listen: expected IP:PORT or [IPv6]:PORT with a port from 0 to 65535, got "0.0.0.0:70000"` },
    { title: 'an upstream on port 0', text: sitesFile(['name: a', 'upstream: ftp.internal:0']), message: `${SOURCE}: sites[0].upstream: expected HOST:PORT or [IPv6]:PORT with a port from 1 to 65535, got "ftp.internal:0"` },
    { title: 'a URL for the public address', text: 'upstream: a:21\npublicAddress: ftp://ftp.example.com\n', message: `${SOURCE}: publicAddress: expected an IPv4 or IPv6 address, or a DNS name, got "ftp://ftp.example.com"` },
    { title: 'an unknown choice', text: sitesFile([...A, 'epsv: on']), message: `${SOURCE}: sites[0].epsv: expected one of passthrough|translate|disable, got "on"` },
    { title: 'metrics OFF in capitals', text: `metricsListen: OFF\n${sitesFile(A)}`, message: `${SOURCE}: metricsListen: expected IP:PORT or [IPv6]:PORT, got "OFF"` },
    // Required keys
    { title: 'no upstream in a one-site file', text: 'mode: relay\n', message: `${SOURCE}: upstream: expected HOST:PORT (required), got nothing` },
    { title: 'no upstream in a site', text: sitesFile(['name: a']), message: `${SOURCE}: sites[0].upstream: expected HOST:PORT (required), got nothing` },
    { title: 'no name', text: sitesFile(['upstream: a:21']), message: `${SOURCE}: sites[0].name: expected a name of letters, digits, "_", "." and "-" (required), got nothing` },
    // sites:
    { title: 'sites: not a list', text: 'sites: main\n', message: `${SOURCE}: sites: expected a list of sites, got "main"` },
    { title: 'an empty sites list', text: 'sites: []\n', message: `${SOURCE}: sites: expected at least one site, got an empty list` },
    { title: 'sites: with no value', text: 'sites:\n', message: `${SOURCE}: sites: expected a list of sites, got an empty value` },
    { title: 'a site that is not a mapping', text: 'sites:\n  - main\n', message: `${SOURCE}: sites[0]: expected a site: a mapping with name:, upstream: and the other site keys, got "main"` },
    // Site names
    { title: 'a name with a space', text: sitesFile(['name: main site', 'upstream: a:21']), message: `${SOURCE}: sites[0].name: expected a name of letters, digits, "_", "." and "-", got "main site"` },
    { title: 'an empty name', text: sitesFile(['name: ""', 'upstream: a:21']), message: `${SOURCE}: sites[0].name: expected a name of letters, digits, "_", "." and "-", got ""` },
    { title: 'a name with a quote (a metric label value)', text: sitesFile(['name: a"b', 'upstream: a:21']), message: `${SOURCE}: sites[0].name: expected a name of letters, digits, "_", "." and "-", got "a\\"b"` },
    { title: 'a number for a name', text: sitesFile(['name: 7', 'upstream: a:21']), message: `${SOURCE}: sites[0].name: expected a name of letters, digits, "_", "." and "-", got 7` },
    {
      title: 'two sites with one name',
      text: sitesFile(A, [...B.filter((line) => !line.startsWith('name')), 'name: a']),
      message: `${SOURCE}: sites[1].name: site name "a" is already the name of sites[0]; names must be unique`,
    },
    // Sites that overlap
    {
      title: 'two sites on one address and port',
      text: sitesFile(A, [...B.filter((line) => !line.startsWith('listen')), 'listen: 127.0.0.1:2121']),
      message: `${SOURCE}: sites[1].listen[0]: site "b" listens on 127.0.0.1:2121, which overlaps 127.0.0.1:2121 of site "a" (sites[0].listen[0])`,
    },
    {
      title: '0.0.0.0 beside 127.0.0.1 on one port',
      text: sitesFile(A, [...B.filter((line) => !line.startsWith('listen')), 'listen: ["127.0.0.1:3000", "0.0.0.0:2121"]']),
      message: `${SOURCE}: sites[1].listen[1]: site "b" listens on 0.0.0.0:2121, which overlaps 127.0.0.1:2121 of site "a" (sites[0].listen[0])`,
    },
    {
      title: '[::] beside 0.0.0.0 on one port',
      text: sitesFile(
        ['name: a', 'upstream: x:21', 'listen: 0.0.0.0:21', 'passivePorts: 60000-60099'],
        ['name: b', 'upstream: y:21', 'listen: "[::]:21"', 'passivePorts: 60100-60199'],
      ),
      message: `${SOURCE}: sites[1].listen[0]: site "b" listens on [::]:21, which overlaps 0.0.0.0:21 of site "a" (sites[0].listen[0])`,
    },
    {
      title: 'overlapping passive ranges',
      text: sitesFile(A, [...B.filter((line) => !line.startsWith('passivePorts')), 'passivePorts: 60050-60149']),
      message: `${SOURCE}: sites[1].passivePorts: site "b" has passive ports 60050-60149, which overlap 60000-60099 of site "a" (sites[0].passivePorts)`,
    },
    {
      title: 'the default passive range in two relay sites',
      text: sitesFile(['name: a', 'upstream: x:21', 'listen: 127.0.0.1:2121'], ['name: b', 'upstream: y:21', 'listen: 127.0.0.1:2122']),
      message: `${SOURCE}: sites[1].passivePorts: site "b" has passive ports 60000-60999, which overlap 60000-60999 of site "a" (sites[0].passivePorts)`,
    },
    // Flags
    {
      title: 'a per-site flag beside a file with sites:',
      text: sitesFile(A),
      flags: { passivePorts: '61000-61099' },
      message: `--passive-ports: per-site flags cannot be combined with ${SOURCE}, which has sites:; set passivePorts in its sites instead`,
    },
    {
      title: '--listen beside a file with sites:',
      text: sitesFile(A),
      flags: { listen: ['0.0.0.0:21', '[::]:21'] },
      message: `--listen: per-site flags cannot be combined with ${SOURCE}, which has sites:; set listen in its sites instead`,
    },
    { title: 'a bad flag value over a file names the flag', text: 'upstream: a:21\n', flags: { maxSessions: 'lots' }, message: '--max-sessions: expected a whole number from 1 to 1000000, got "lots"' },
    { title: 'a bad process flag over a sites file names the flag', text: sitesFile(A), flags: { logLevel: 'loud' }, message: '--log-level: expected one of fatal|error|warn|info|debug|trace|silent, got "loud"' },
    { title: 'a bad file value beside good flags names the key', text: 'maxSessions: lots\n', flags: { upstream: 'a:21' }, message: `${SOURCE}: maxSessions: expected a whole number from 1 to 1000000, got "lots"` },
    { title: 'a bad --listen item over a file names the flag', text: 'upstream: a:21\n', flags: { listen: ['127.0.0.1:21', 'x'] }, message: '--listen: expected IP:PORT or [IPv6]:PORT, got "x"' },
  ];

  it.each(cases)('$title', ({ text, flags, message }) => {
    expect(messageOf(text, flags)).toBe(message);
  });

  it('every message is one line', () => {
    for (const { text, flags } of cases) expect(messageOf(text, flags)).not.toContain('\n');
  });
});

describe('loadConfig', () => {
  const directory = mkdtempSync(join(tmpdir(), 'ftpmasq-config-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));
  const fileWith = (name: string, text: string): string => {
    const path = join(directory, name);
    writeFileSync(path, text);
    return path;
  };

  it('without a file, builds the config from the flags and names the command line as the source', () => {
    const loaded = loadConfig({ flags: { upstream: '10.0.0.1:21' } });
    expect(loaded.config).toEqual(buildConfig({ upstream: '10.0.0.1:21' }));
    expect(loaded.source).toBe(COMMAND_LINE_SOURCE);
    expect(loaded.hash).toMatch(/^[0-9a-f]{12}$/);
  });

  it('with a file, names the file as the source', () => {
    const path = fileWith('one.yaml', sitesFile(A));
    const loaded = loadConfig({ configPath: path, flags: {} });
    expect(loaded.source).toBe(path);
    expect(loaded.config.sites[0]?.name).toBe('a');
  });

  it('gives the same hash for the same effective config however it is written', () => {
    const flat = loadConfig({ configPath: fileWith('flat.yaml', 'upstream: 10.0.0.1:21\npassiveTimeout: 30\n'), flags: {} });
    const sites = loadConfig({
      configPath: fileWith('sites.yaml', '# a comment\nsites:\n  - {name: default, upstream: "10.0.0.1:21", passiveTimeout: 30000ms, listen: [0.0.0.0:21]}\n'),
      flags: {},
    });
    const flags = loadConfig({ flags: { upstream: '10.0.0.1:21' } });
    expect(sites.hash).toBe(flat.hash);
    expect(flags.hash).toBe(flat.hash);
  });

  it('gives another hash when one value changes', () => {
    const base = loadConfig({ flags: { upstream: '10.0.0.1:21' } });
    expect(loadConfig({ flags: { upstream: '10.0.0.1:21', idleTimeout: '601s' } }).hash).not.toBe(base.hash);
    expect(loadConfig({ flags: { upstream: '10.0.0.1:21', logLevel: 'debug' } }).hash).not.toBe(base.hash);
  });

  it('reads the file anew on every call (SIGHUP calls it again)', () => {
    const path = fileWith('reload.yaml', 'upstream: 10.0.0.1:21\n');
    const first = loadConfig({ configPath: path, flags: {} });
    writeFileSync(path, 'upstream: 10.0.0.2:21\n');
    const second = loadConfig({ configPath: path, flags: {} });
    expect(second.config.sites[0]?.upstream).toEqual({ host: '10.0.0.2', port: 21 });
    expect(second.hash).not.toBe(first.hash);
  });

  it('names a missing file and why it cannot be read', () => {
    const path = join(directory, 'missing.yaml');
    expect(configErrorOf(() => loadConfig({ configPath: path, flags: {} })).message).toBe(
      `${path}: cannot read the config file: no such file or directory (ENOENT)`,
    );
  });

  it('names a directory given as the file', () => {
    expect(configErrorOf(() => loadConfig({ configPath: directory, flags: {} })).message).toBe(
      `${directory}: cannot read the config file: illegal operation on a directory (EISDIR)`,
    );
  });

  it('names the file in a YAML syntax error with line and column', () => {
    const path = fileWith('broken.yaml', 'sites:\n  - name: a\n    upstream: a:21\n  - name: a\n   upstream: b:21\n');
    expect(configErrorOf(() => loadConfig({ configPath: path, flags: {} })).message).toMatch(
      new RegExp(`^${path.replaceAll('.', '\\.')}:5:\\d+: invalid YAML: `),
    );
  });
});

describe('canonicalJson and hashConfig', () => {
  it('sorts keys at every depth and leaves undefined members out', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { f: 1, e: undefined }], c: 'x' } })).toBe('{"a":{"c":"x","d":[2,{"f":1}]},"b":1}');
  });

  it('hashes key order away', () => {
    const config = buildConfig({ upstream: '10.0.0.1:21' });
    const reordered: DaemonConfig = { sites: config.sites, drainTimeoutMs: config.drainTimeoutMs, metricsListen: config.metricsListen, logLevel: config.logLevel };
    expect(hashConfig(reordered)).toBe(hashConfig(config));
  });
});

describe('configFromDocument: routes beside upstreamTls', () => {
  it('is refused with the key path: the TLS check names the site upstream, routes dial others', () => {
    const text = [
      'upstream: 10.0.0.1:21',
      'upstreamTls: explicit',
      'allowPlainClients: true',
      'routes:',
      '  - user: alice',
      '    upstream: 10.0.0.2:21',
    ].join('\n');
    expect(messageOf(`${text}\n`)).toMatch(/routes: .*routes and upstreamTls cannot be combined yet/);
  });
});
