/**
 * `ftpmasq probe` as a process against in-process servers on loopback. Only loopback is dialled:
 * servers here advertise 127.0.0.1 (fine), 0.0.0.0 (not the server: the probe must not dial it)
 * or, behind ftpmasq, 10.0.11.251, which only ftpmasq sees and never dials. The real NAT cases
 * (a private 227 that fails, MasqueradeAddress that works) are in test/e2e/probe.test.ts.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/schema.js';
import { type RunningDaemon, start } from '../../src/daemon.js';
import { LegacyFtpServer } from '../../src/demo/legacy-ftp-server.js';
import { createLogger } from '../../src/observability/logger.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runCli(args: readonly string[], timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ftpmasq ${args.join(' ')} did not exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function sample(): Map<string, Buffer> {
  return new Map([['sample.txt', Buffer.from('hello, ftp!\n')]]);
}

const servers: LegacyFtpServer[] = [];
let daemon: RunningDaemon | undefined;

async function legacyServer(advertisedAddress: string): Promise<string> {
  const server = new LegacyFtpServer({ host: '127.0.0.1', advertisedAddress, files: sample() });
  servers.push(server);
  const address = await server.listen();
  return `127.0.0.1:${address.port}`;
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` first');
});

afterAll(async () => {
  await daemon?.stop();
  await Promise.all(servers.map((server) => server.close()));
});

describe('ftpmasq probe', () => {
  it('a server whose 227 names the address the probe connected to: FINE, exit 0', async () => {
    const server = await legacyServer('127.0.0.1');
    const result = await runCli(['probe', `ftp://scott:tiger@${server}`]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^ {2}PASV {18}227 Entering Passive Mode \(127,0,0,1,\d+,\d+\)\.$/m);
    expect(result.stdout).toMatch(/^ {2}data to 227 address {3}127\.0\.0\.1:\d+ {2}ok \(LIST: 226 Transfer complete, \d+ bytes\)$/m);
    expect(result.stdout).toMatch(/^ {2}EPSV {18}229 Entering Extended Passive Mode \(\|\|\|\d+\|\)$/m);
    expect(result.stdout).toMatch(/^verdict: FINE: /m);
    expect(result.stdout).not.toContain('npx ftpmasq');
    expect(result.stdout).not.toContain('tiger');
  });

  it('a server whose 227 names 0.0.0.0: not dialled, NEEDS FTPMASQ with a command line, exit 1', async () => {
    const server = await legacyServer('0.0.0.0');
    const result = await runCli(['probe', `ftp://scott:tiger@${server}`]);
    expect(result.code, result.stdout + result.stderr).toBe(1);
    expect(result.stdout).toMatch(/data to 227 address {3}0\.0\.0\.0:\d+ {2}not tried: unspecified address/);
    expect(result.stdout).toMatch(/data to control addr {2}127\.0\.0\.1:\d+ {2}ok/);
    expect(result.stdout).toMatch(/^verdict: NEEDS FTPMASQ: /m);
    expect(result.stdout).toMatch(
      /^ {2}npx ftpmasq --listen 0\.0\.0\.0:\d+ --upstream 127\.0\.0\.1:\d+ --public-address 127\.0\.0\.1 --passive-ports 60000-60999$/m,
    );
    expect(result.stdout).toContain('--mode rewrite');
    expect(result.stdout).toContain('MasqueradeAddress 127.0.0.1');
  });

  it('the legacy server (227 names 10.0.11.251) behind ftpmasq: FINE, exit 0', async () => {
    const upstream = await legacyServer('10.0.11.251');
    daemon = await start(
      buildConfig({ listen: '127.0.0.1:0', upstream, metricsListen: 'off', logLevel: 'silent' }),
      { logger: createLogger('silent') },
    );
    const ftpmasq = daemon.addresses[0];
    if (ftpmasq === undefined) throw new Error('ftpmasq has no listener');
    const result = await runCli(['probe', `ftp://scott:tiger@127.0.0.1:${ftpmasq.port}`]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/227 Entering Passive Mode \(127,0,0,1,\d+,\d+\)\./);
    expect(result.stdout).toMatch(/^verdict: FINE: /m);
  });

  it('--json: the observations and the diagnosis', async () => {
    const server = await legacyServer('127.0.0.1');
    const result = await runCli(['probe', '--json', `ftp://scott:tiger@${server}`]);
    expect(result.code).toBe(0);
    const parsed: unknown = JSON.parse(result.stdout);
    expect(parsed).toMatchObject({
      url: `ftp://scott:***@${server}`,
      run: { complete: true, observations: { controlAddress: '127.0.0.1', pasv: { outcome: 'ok' }, dataToAdvertised: { outcome: 'ok' } } },
      diagnosis: { verdict: 'fine', exitCode: 0 },
    });
    expect(result.stdout).not.toContain('tiger');
  });

  it('a wrong password: INCONCLUSIVE at login, exit 1', async () => {
    const server = await legacyServer('127.0.0.1');
    const result = await runCli(['probe', `ftp://scott:lion@${server}`]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/failed at login {7}PASS was answered 530 Login incorrect\./);
    expect(result.stdout).toMatch(/^verdict: INCONCLUSIVE: cannot log in/m);
  });

  it('nothing listening: INCONCLUSIVE at connect, exit 1', async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const address = closed.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await runCli(['probe', `ftp://scott:tiger@127.0.0.1:${address.port}`]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/failed at connect .*ECONNREFUSED/);
  });

  const badUrls = [
    { title: 'no scheme', url: '203.0.113.10' },
    { title: 'http', url: 'http://scott:tiger@203.0.113.10' },
    { title: 'a path', url: 'ftp://scott:tiger@203.0.113.10/pub' },
  ];
  for (const { title, url } of badUrls) {
    it(`a bad URL (${title}): one line naming the expected form, exit 2, password hidden`, async () => {
      const result = await runCli(['probe', url]);
      expect(result.code).toBe(2);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('expected ftp://user:pass@host[:port]');
      expect(result.stderr).not.toContain('tiger');
      expect(result.stdout).toBe('');
    });
  }

  it('no URL at all: exit 2', async () => {
    const result = await runCli(['probe']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("missing required argument 'url'");
  });
});
