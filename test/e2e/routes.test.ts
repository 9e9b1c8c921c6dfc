/**
 * User routing and a public address given as a DNS name, in the namespace topology:
 *
 *   one site 203.0.113.10:21, publicAddress ftp.masq.test (refreshed every 1s)
 *     user scott (no route)       -> ProFTPD        10.0.11.251:21    (the site's upstream)
 *     user alice (route "alice|ops-[0-9]+") -> a 2nd ProFTPD 10.0.11.251:2121
 *
 * Each ProFTPD has its own FTP root of random fixtures, and alice exists only on the second one,
 * so a checksum tells which server a login reached. ftpmasq runs in the gateway namespace through
 * `ip netns exec`, which bind-mounts /etc/netns/<gateway>/hosts over /etc/hosts: the test gives
 * ftp.masq.test an address there (rewritten in place, so the bind mount sees every change) and
 * removes the folder in teardown. The host's own /etc/hosts is never touched.
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun } from '../helpers/clients.js';
import { type FtpmasqChild, startFtpmasqWithConfig } from '../helpers/ftpmasq-process.js';
import { cryptPassword, FTP_PASSWORD, FTP_USER, JAPANESE_FILE, type ProftpdServer, figuresOf, startProftpd } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS, type RunResult, SERVER_ADDRESS } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { dialFirstReply } from './support/first-reply.js';
import { writeConfigText } from './support/site-config.js';

const FTPLIB_CLIENT = fileURLToPath(new URL('./support/ftplib-client.py', import.meta.url));
const PUBLIC_NAME = 'ftp.masq.test';
/** An address the name moves to: only the 227's text is checked, nothing connects to it. */
const MOVED_ADDRESS = '198.51.100.77';
const ROUTED_USER = 'alice';
const BETA_SERVER = { name: 'routed', port: 2121, passivePorts: { first: 59000, last: 59499 } } as const;
const LOG_TAIL_LINES = 60;
const CLIENT_TIMEOUT_S = 20;

describe('user routing between two ProFTPDs, and a publicAddress given as a DNS name', () => {
  let env: E2eEnvironment | undefined;
  let routedServer: ProftpdServer | undefined;
  let ftpmasq: FtpmasqChild | undefined;
  let netnsDir: string | undefined;

  const requireEnv = (): E2eEnvironment => {
    if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
    return env;
  };
  const logTail = (): string => {
    if (ftpmasq === undefined) return '';
    const lines = ftpmasq.output().trimEnd().split('\n');
    return `--- ftpmasq (${ftpmasq.running() ? 'running' : 'EXITED'}), last ${LOG_TAIL_LINES} lines ---\n${lines.slice(-LOG_TAIL_LINES).join('\n')}`;
  };
  const failure = (what: string, run: RunResult): string => `${what}\n${describeRun(run)}\n${logTail()}`;

  /** Writes the gateway's hosts file in place (same inode: the bind mount in ftpmasq's mount namespace sees it). */
  const setPublicName = async (address: string | undefined): Promise<void> => {
    if (netnsDir === undefined) throw new Error('no /etc/netns folder');
    await writeFile(join(netnsDir, 'hosts'), `127.0.0.1 localhost\n${address === undefined ? '' : `${address} ${PUBLIC_NAME}\n`}`);
  };

  const ftplib = (user: string, args: readonly string[]): Promise<RunResult> => {
    const { tools, topology } = requireEnv();
    return topology.exec(
      topology.client.namespace,
      tools.python3,
      [FTPLIB_CLIENT, PUBLIC_ADDRESS, '21', user, FTP_PASSWORD, String(CLIENT_TIMEOUT_S), ...args],
      { timeoutMs: (CLIENT_TIMEOUT_S + 10) * 1000, env: { ...process.env, LC_ALL: 'C.UTF-8', PYTHONIOENCODING: 'utf-8:backslashreplace' } },
    );
  };

  /** The 227 ftpmasq answers a PASV of `user` now. */
  const pasvReply = async (user: string): Promise<string> => {
    const run = await ftplib(user, ['commands', 'PASV']);
    expect(run.code, failure('PASV by hand', run)).toBe(0);
    const record: unknown = JSON.parse(run.stdout.toString('utf8').trim().split('\n')[0] ?? '{}');
    return typeof record === 'object' && record !== null && 'reply' in record ? String(record.reply) : '';
  };

  beforeAll(async () => {
    env = await setUpEnvironment();
    const { tools, topology } = env;
    const workDir = join(env.clientDir, '..');
    routedServer = await startProftpd({ tools, topology, workDir, instance: BETA_SERVER });
    // alice exists on the routed server only: a login that reached the other one would fail.
    const hash = await cryptPassword(tools.openssl, FTP_PASSWORD);
    await appendFile(join(workDir, `proftpd-${BETA_SERVER.name}`, 'ftpd.passwd'), `${ROUTED_USER}:${hash}:65534:65534::${routedServer.root}:/bin/false\n`);
    netnsDir = join('/etc/netns', topology.gateway);
    await mkdir(netnsDir, { recursive: true });
    await setPublicName(PUBLIC_ADDRESS);
    const configPath = join(workDir, 'ftpmasq-routes.yaml');
    const site = {
      name: 'routed',
      listen: `${PUBLIC_ADDRESS}:21`,
      upstream: `${SERVER_ADDRESS}:21`,
      publicAddress: PUBLIC_NAME,
      publicAddressRefresh: '1s',
      passivePorts: '60000-60499',
      mode: 'relay',
      routes: [{ user: `${ROUTED_USER}|ops-[0-9]+`, upstream: `${SERVER_ADDRESS}:${BETA_SERVER.port}` }],
    };
    await writeConfigText(configPath, stringify({ metricsListen: '127.0.0.1:9464', logLevel: 'info', sites: [site] }, { lineWidth: 0 }));
    ftpmasq = await startFtpmasqWithConfig({ tools, topology, configPath });
  });

  afterAll(async () => {
    try {
      await ftpmasq?.stop();
      await routedServer?.stop();
    } finally {
      if (netnsDir !== undefined) await rm(netnsDir, { recursive: true, force: true });
      await env?.teardown();
    }
  });

  it("greets with ftpmasq's own 220, not a server's banner", async () => {
    const { tools, topology } = requireEnv();
    const { reply, run } = await dialFirstReply(tools, topology, topology.client, { address: PUBLIC_ADDRESS, port: 21 }, 10_000);
    expect(reply.outcome, failure('no greeting', run)).toBe('reply');
    if (reply.outcome === 'reply') expect(reply.line).toBe('220 Service ready for new user.');
  });

  it.each([
    { user: FTP_USER, upstream: 'the site upstream (no route matches)', server: () => requireEnv().proftpd },
    { user: ROUTED_USER, upstream: 'the routed upstream', server: () => routedServer },
  ])('$user downloads from $upstream intact, through the 227 naming the resolved public address', async ({ user, server }) => {
    const upstream = server();
    if (upstream === undefined) throw new Error('no upstream (see the beforeAll error)');
    const expected = upstream.fixtures.get(JAPANESE_FILE);
    if (expected === undefined) throw new Error(`no fixture ${JAPANESE_FILE}`);
    const localPath = join(requireEnv().clientDir, `routes-${user}.jpg`);
    const run = await ftplib(user, ['get', JAPANESE_FILE, localPath]);
    expect(run.code, failure(`RETR as ${user}`, run)).toBe(0);
    expect(run.stderr, failure('the 227', run)).toContain(`(${PUBLIC_ADDRESS.replaceAll('.', ',')},`);
    expect(await figuresOf(localPath, JAPANESE_FILE), `figures of ${JAPANESE_FILE} downloaded as ${user}`).toEqual(expected);
  });

  it('an upload as the routed user lands in the routed server only, intact', async () => {
    const { upload, proftpd } = requireEnv();
    const remoteName = 'routes-alice-upload.bin';
    const run = await ftplib(ROUTED_USER, ['put', upload.path, remoteName]);
    expect(run.code, failure('STOR as alice', run)).toBe(0);
    const root = routedServer?.root ?? '';
    const stored = await figuresOf(join(root, remoteName), remoteName);
    expect({ size: stored.size, sha256: stored.sha256 }).toEqual({ size: upload.size, sha256: upload.sha256 });
    expect(existsSync(join(proftpd.root, remoteName)), 'the upload must not reach the other server').toBe(false);
  });

  it('follows the name when it moves, keeps the last address while it does not resolve, and transfers again once it is back', async () => {
    await setPublicName(MOVED_ADDRESS);
    const moved = `(${MOVED_ADDRESS.replaceAll('.', ',')},`;
    let reply = '';
    for (let attempt = 0; attempt < 20 && !reply.includes(moved); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      reply = await pasvReply(FTP_USER);
    }
    expect(reply, logTail()).toContain(moved);

    await setPublicName(undefined);
    const proxy = ftpmasq;
    if (proxy === undefined) throw new Error('ftpmasq was not started');
    const failed = (): boolean => proxy.logRecords.some((record) => record['msg'] === 'public address lookup failed');
    for (let attempt = 0; attempt < 20 && !failed(); attempt++) await new Promise((resolve) => setTimeout(resolve, 250));
    expect(failed(), logTail()).toBe(true);
    expect(await pasvReply(ROUTED_USER), logTail()).toContain(moved);

    await setPublicName(PUBLIC_ADDRESS);
    const home = `(${PUBLIC_ADDRESS.replaceAll('.', ',')},`;
    for (let attempt = 0; attempt < 20 && !reply.includes(home); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      reply = await pasvReply(FTP_USER);
    }
    expect(reply, logTail()).toContain(home);
    const expected = requireEnv().proftpd.fixtures.get(JAPANESE_FILE);
    const localPath = join(requireEnv().clientDir, 'routes-after-move.jpg');
    const run = await ftplib(FTP_USER, ['get', JAPANESE_FILE, localPath]);
    expect(run.code, failure('RETR after the name came back', run)).toBe(0);
    expect(await figuresOf(localPath, JAPANESE_FILE)).toEqual(expected);
  });

  it('is still running, and exits 0 on SIGTERM', async () => {
    const proxy = ftpmasq;
    if (proxy === undefined) throw new Error('ftpmasq was not started');
    expect(proxy.running(), logTail()).toBe(true);
    proxy.signal('SIGTERM');
    expect(await proxy.waitForExit(15_000), logTail()).toEqual({ code: 0, signal: null, elapsedMs: expect.any(Number) });
  });
});
