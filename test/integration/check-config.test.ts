/** `ftpmasq check-config FILE` and `ftpmasq --config FILE` as processes: output, one-line errors, exit codes. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const example = fileURLToPath(new URL('../../config/ftpmasq.example.yaml', import.meta.url));
const directory = mkdtempSync(join(tmpdir(), 'ftpmasq-check-config-'));

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 10_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function fileWith(name: string, text: string): string {
  const path = join(directory, name);
  writeFileSync(path, text);
  return path;
}

const TWO_SITES = `logLevel: warn
sites:
  - name: legacy
    listen: ["0.0.0.0:21", "[::]:21"]
    upstream: 10.0.11.251:21
    publicAddress: 203.0.113.10
    passivePorts: 60000-60999
  - name: archive
    listen: 0.0.0.0:2121
    upstream: archive.internal:21
    passivePorts: 61000-61099
    idleTimeout: 10m
`;

beforeAll(() => {
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` first');
});
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('ftpmasq check-config', () => {
  it('prints the effective configuration of a valid two-site file, every default filled in, and exits 0', () => {
    const path = fileWith('two-sites.yaml', TWO_SITES);
    const result = runCli(['check-config', path]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const [, hash] = /^# hash: ([0-9a-f]{12})$/m.exec(result.stdout) ?? [];
    expect(hash).toMatch(/^[0-9a-f]{12}$/);
    expect(parse(result.stdout)).toEqual({
      logLevel: 'warn',
      metricsListen: '127.0.0.1:9464',
      drainTimeout: '30s',
      workers: 'auto',
      sites: [
        {
          name: 'legacy',
          listen: ['0.0.0.0:21', '[::]:21'],
          upstream: '10.0.11.251:21',
          publicAddress: '203.0.113.10',
          publicAddressRefresh: '60s',
          passivePorts: '60000-60999',
          mode: 'relay',
          epsv: 'passthrough',
          active: 'relay',
          passiveTimeout: '30s',
          upstreamConnectTimeout: '10s',
          maxSessions: 10000,
          greetingTimeout: '10s',
          loginTimeout: '60s',
          idleTimeout: '600s',
          dataStallTimeout: '300s',
          allowClients: [],
          denyClients: [],
          maxSessionsPerClient: 'unlimited',
          advertise: [],
          passThroughClients: [],
          replyTimeout: '60s',
          maxCommandBytes: 4096,
          upstreamPreconnect: 0,
          upstreamPreconnectMaxAge: '15s',
          routes: [],
          proxyProtocolData: false,
          upstreamProxyProtocol: 'off',
          upstreamProxyProtocolData: false,
          passivePortSharing: false,
          advertisedPassivePortOffset: 0,
        },
        expect.objectContaining({ name: 'archive', listen: ['0.0.0.0:2121'], passivePorts: '61000-61099', idleTimeout: '600s' }),
      ],
    });

    // What it prints is itself a valid file with the same effective configuration, so the same hash.
    const printed = fileWith('printed.yaml', result.stdout);
    const again = runCli(['check-config', printed]);
    expect(again.status).toBe(0);
    expect(again.stdout).toContain(`# hash: ${hash}\n`);
  });

  it('accepts the shipped example', () => {
    const result = runCli(['check-config', example]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('name: archive');
  });

  const invalid: { title: string; text: string; error: (path: string) => string }[] = [
    {
      title: 'an unknown key, with the key it resembles',
      text: TWO_SITES.replace('idleTimeout: 10m', 'pasiveTimeout: 10s'),
      error: (path) => `ftpmasq: ${path}: sites[1].pasiveTimeout: unknown key; did you mean passiveTimeout?`,
    },
    {
      title: 'a wrong type, naming the key path',
      text: TWO_SITES.replace('passivePorts: 61000-61099', 'passivePorts: [61000, 61099]'),
      error: (path) => `ftpmasq: ${path}: sites[1].passivePorts: expected LOW-HIGH (e.g. 60000-60999), got a list`,
    },
    {
      title: 'a value of the wrong form, naming the key and not the flag',
      text: TWO_SITES.replace('idleTimeout: 10m', 'maxSessions: lots'),
      error: (path) => `ftpmasq: ${path}: sites[1].maxSessions: expected a whole number from 1 to 1000000, got "lots"`,
    },
    {
      title: 'a YAML syntax error, with line and column',
      text: TWO_SITES.replace('  - name: archive', '  - name: archive\n   bad indent: x'),
      error: (path) => `ftpmasq: ${path}:9:1: invalid YAML: Sequence item without - indicator`,
    },
    {
      title: 'overlapping passive ranges, naming both sites',
      text: TWO_SITES.replace('passivePorts: 61000-61099', 'passivePorts: 60900-61099'),
      error: (path) =>
        `ftpmasq: ${path}: sites[1].passivePorts: site "archive" has passive ports 60900-61099, which overlap 60000-60999 of site "legacy" (sites[0].passivePorts)`,
    },
    {
      title: 'overlapping listeners, naming both sites',
      text: TWO_SITES.replace('listen: 0.0.0.0:2121', 'listen: 127.0.0.1:21'),
      error: (path) =>
        `ftpmasq: ${path}: sites[1].listen[0]: site "archive" listens on 127.0.0.1:21, which overlaps 0.0.0.0:21 of site "legacy" (sites[0].listen[0])`,
    },
    {
      title: 'workers above 1 beside a kernel-mode site, naming workers and why',
      text: `workers: 2\n${TWO_SITES.replace('idleTimeout: 10m', 'mode: kernel')}`,
      error: (path) =>
        `ftpmasq: ${path}: workers: 2 workers cannot serve site "archive" in kernel mode: the kernel moves its data, so workers gain nothing, and each worker would replace the one nftables table (ip ftpmasq) the others use; set workers to 1 or auto`,
    },
  ];

  it.each(invalid)('exits 2 with one line on stderr for $title', ({ title, text, error }) => {
    const path = fileWith(`${title.replaceAll(/\W+/g, '-')}.yaml`, text);
    const result = runCli(['check-config', path]);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`${error(path)}\n`);
  });

  it('exits 2 naming a missing file', () => {
    const path = join(directory, 'missing.yaml');
    const result = runCli(['check-config', path]);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`ftpmasq: ${path}: cannot read the config file: no such file or directory (ENOENT)\n`);
  });

  it('exits 2 without a file argument', () => {
    const result = runCli(['check-config']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("missing required argument 'file'");
  });
});

describe('ftpmasq --config', () => {
  it('exits 2 for a per-site flag beside a file with sites:, saying why', () => {
    const path = fileWith('sites-with-flag.yaml', TWO_SITES);
    const result = runCli(['--config', path, '--upstream', '10.0.0.1:21']);
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(`ftpmasq: --upstream: per-site flags cannot be combined with ${path}, which has sites:; set upstream in its sites instead\n`);
  });

  it('names the key for a bad value in the file and the flag for a bad flag', () => {
    const path = fileWith('flat-bad.yaml', 'upstream: 10.0.0.1:21\nmaxSessions: lots\n');
    expect(runCli(['--config', path]).stderr).toBe(`ftpmasq: ${path}: maxSessions: expected a whole number from 1 to 1000000, got "lots"\n`);
    const good = fileWith('flat-good.yaml', 'upstream: 10.0.0.1:21\n');
    const flagged = runCli(['--config', good, '--idle-timeout', 'forever']);
    expect(flagged.status).toBe(2);
    expect(flagged.stderr).toBe('ftpmasq: --idle-timeout: expected a duration such as 30s, 1.5s, 500ms or 5m, got "forever"\n');
  });
});
