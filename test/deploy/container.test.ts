/**
 * npm run container:test: the image `npm run container:build` made, run with podman as
 * deploy/README.md says, with two sites: one in front of the demo's legacy server (its 227 names
 * 10.0.11.251, as a ProFTPD without MasqueradeAddress behind NAT would), one in front of the real
 * ProFTPD 1.3.8 of compose.yaml's legacy-server image.
 *
 * Topology: the ftpmasq container has its own network namespace (podman's bridge), with its
 * listeners, the metrics port and the passive ranges published on the host's 127.0.0.1 only. The
 * upstreams run in containers that join that namespace (--network container:...), listening on its
 * 127.0.0.1. So every address used is loopback or inside namespaces the test created. ftpmasq runs as user 10001 with no capabilities and binds 21 through
 * net.ipv4.ip_unprivileged_port_start; the config is one mounted file.
 *
 * Proven: a checksummed download and upload through the container, the 227 rewritten to the
 * published address, /healthz and the image's HEALTHCHECK, ftpmasq_build_info, and that
 * `podman stop` drains: a transfer running when it is asked completes with its checksum, the
 * container exits 0 long before the stop timeout, and the log says it drained.
 */
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ftpmasqImage, podman, podmanOk } from '../helpers/podman.js';
import { RawFtpClient, sha256, waitUntil, withTimeout } from '../helpers/raw-ftp-client.js';

const HOST = '127.0.0.1';
const CONTROL_PORT = 29721;
const METRICS_PORT = 29722;
const PASSIVE_FIRST = 29700;
const PASSIVE_LAST = 29709;
const UPSTREAM_PORT = 2100;
/** The site in front of the real ProFTPD: its listener, published port and passive range. */
const PROFTPD_SITE_LISTEN_PORT = 2021;
const PROFTPD_SITE_PORT = 29723;
const PROFTPD_PASSIVE = '29740-29749';
const PROFTPD_PORT = 2200;
const PROFTPD_IMAGE = 'localhost/ftpmasq-legacy-proftpd:bookworm';
/** ProFTPD's user in that image (deploy/docker/proftpd/Dockerfile): scott/tiger, uid 2001. */
const PROFTPD_UID = 2001;
/** Well above what a drain takes here, so a stop that waits for it means SIGKILL, not drain. */
const STOP_TIMEOUT_S = 60;
/** More than every socket buffer on the path holds, so the transfer is still running at the stop. */
const DRAIN_PAYLOAD_BYTES = 64 * 1024 * 1024;

const image = ftpmasqImage();
const proxyName = `fmq-ct-proxy-${process.pid}`;
const upstreamName = `fmq-ct-upstream-${process.pid}`;
const proftpdName = `fmq-ct-proftpd-${process.pid}`;
const small = randomBytes(3 * 1024 * 1024 + 17);
const large = randomBytes(DRAIN_PAYLOAD_BYTES);
let scratch = '';
let home = '';

/** The demo's legacy server, from the image's own dist/, serving the files mounted at /srv. */
const UPSTREAM_SCRIPT = `
const { LegacyFtpServer } = await import('/app/dist/demo/legacy-ftp-server.js');
const { readFileSync } = await import('node:fs');
const files = new Map(['small.bin', 'large.bin'].map((name) => [name, readFileSync('/srv/' + name)]));
const server = new LegacyFtpServer({ host: '127.0.0.1', port: ${UPSTREAM_PORT}, files });
await server.listen();
console.log('upstream listening');
process.on('SIGTERM', () => process.exit(0));
`;

function logRecords(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line): unknown => JSON.parse(line))
    .filter((record): record is Record<string, unknown> => typeof record === 'object' && record !== null)
    .map((record) => Object.fromEntries(Object.entries(record)));
}

async function proxyLog(): Promise<Record<string, unknown>[]> {
  return logRecords((await podman(['logs', proxyName])).stdout);
}

async function removeContainers(): Promise<void> {
  // The upstreams join the proxy's namespace: they go first.
  await podman(['rm', '-f', '-t', '0', upstreamName]);
  await podman(['rm', '-f', '-t', '0', proftpdName]);
  await podman(['rm', '-f', '-t', '0', proxyName]);
}

beforeAll(async () => {
  for (const needed of [image, PROFTPD_IMAGE]) {
    const exists = await podman(['image', 'exists', needed]);
    if (exists.code !== 0) throw new Error(`${needed} is not in the project's podman storage: run npm run container:build first`);
  }
  await removeContainers();
  scratch = await mkdtemp(join(tmpdir(), 'fmq-container-'));
  const srv = join(scratch, 'srv');
  home = join(scratch, 'scott');
  await mkdir(srv);
  await writeFile(join(srv, 'small.bin'), small);
  await writeFile(join(srv, 'large.bin'), large);
  const configPath = join(scratch, 'ftpmasq.yaml');
  await writeFile(
    configPath,
    [
      'metricsListen: 0.0.0.0:9464',
      // Within the container's open-files limit (containers.conf), so no start-up warning.
      'sites:',
      '  - name: default',
      '    listen: 0.0.0.0:21',
      `    upstream: 127.0.0.1:${UPSTREAM_PORT}`,
      `    publicAddress: ${HOST}`,
      `    passivePorts: ${PASSIVE_FIRST}-${PASSIVE_LAST}`,
      '    maxSessions: 1000',
      '  - name: proftpd',
      `    listen: 0.0.0.0:${PROFTPD_SITE_LISTEN_PORT}`,
      `    upstream: 127.0.0.1:${PROFTPD_PORT}`,
      `    publicAddress: ${HOST}`,
      `    passivePorts: ${PROFTPD_PASSIVE}`,
      '    maxSessions: 1000',
      '',
    ].join('\n'),
  );
  // The container's user (10001) reads the mounted files.
  for (const path of [scratch, srv]) await chmod(path, 0o755);
  for (const path of [configPath, join(srv, 'small.bin'), join(srv, 'large.bin')]) await chmod(path, 0o644);
  // The real ProFTPD: compose's configuration on another port, scott's home a folder of the test.
  const proftpdConf = join(scratch, 'proftpd.conf');
  const shipped = await readFile(join(process.cwd(), 'deploy', 'docker', 'proftpd', 'proftpd.conf'), 'utf8');
  await writeFile(proftpdConf, shipped.replace(/^Port\s+21$/m, `Port ${PROFTPD_PORT}`).replace(/^PassivePorts\s+.*$/m, 'PassivePorts 30000 30009'));
  await chmod(proftpdConf, 0o644);
  await mkdir(home);
  await writeFile(join(home, 'small.bin'), small);
  for (const path of [home, join(home, 'small.bin')]) await chown(path, PROFTPD_UID, PROFTPD_UID);

  await podmanOk([
    'run', '-d', '--name', proxyName,
    '--sysctl', 'net.ipv4.ip_unprivileged_port_start=21',
    '--health-interval', 'disable',
    '-p', `${HOST}:${CONTROL_PORT}:21`,
    '-p', `${HOST}:${METRICS_PORT}:9464`,
    '-p', `${HOST}:${PASSIVE_FIRST}-${PASSIVE_LAST}:${PASSIVE_FIRST}-${PASSIVE_LAST}`,
    '-p', `${HOST}:${PROFTPD_SITE_PORT}:${PROFTPD_SITE_LISTEN_PORT}`,
    '-p', `${HOST}:${PROFTPD_PASSIVE}:${PROFTPD_PASSIVE}`,
    '-v', `${configPath}:/etc/ftpmasq/ftpmasq.yaml:ro`,
    image,
  ]);
  await podmanOk([
    'run', '-d', '--name', upstreamName,
    '--network', `container:${proxyName}`,
    '-v', `${srv}:/srv:ro`,
    '--entrypoint', 'node',
    image,
    '--input-type=module', '-e', UPSTREAM_SCRIPT,
  ]);
  await podmanOk([
    'run', '-d', '--name', proftpdName,
    '--network', `container:${proxyName}`,
    '-v', `${proftpdConf}:/etc/proftpd/proftpd.conf:ro`,
    '-v', `${home}:/srv/ftp/scott`,
    PROFTPD_IMAGE,
  ]);
  await waitUntil(
    async () => (await proxyLog()).some((record) => record['msg'] === 'ftpmasq ready'),
    20_000,
    () => 'the ftpmasq ready line in podman logs',
  );
  await waitUntil(
    async () => (await podman(['logs', upstreamName])).stdout.includes('upstream listening'),
    20_000,
    () => 'the upstream listening',
  );
}, 120_000);

afterAll(async () => {
  await removeContainers();
  if (scratch !== '') await rm(scratch, { recursive: true, force: true });
}, 60_000);

async function openSession(port = CONTROL_PORT): Promise<RawFtpClient> {
  const client = await RawFtpClient.open({ host: HOST, port });
  await client.login();
  expect((await client.command('TYPE I')).code).toBe(200);
  return client;
}

/** The port of a 227 reply's address. */
function trustedPort(text: string): number {
  const match = /\(127,0,0,1,(\d+),(\d+)\)/.exec(text);
  if (match === null) throw new Error(`not a 227 naming 127.0.0.1: ${text}`);
  return Number(match[1]) * 256 + Number(match[2]);
}

/** A logged-in binary session through the ProFTPD site, once ProFTPD has started (bounded). */
async function waitForProftpd(): Promise<RawFtpClient> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const client = await RawFtpClient.connect({ host: HOST, port: PROFTPD_SITE_PORT });
    const greeting = await client.readReply(10_000).catch(() => undefined);
    if (greeting?.code === 220) {
      await client.login();
      expect((await client.command('TYPE I')).code).toBe(200);
      return client;
    }
    client.socket.destroy();
    if (Date.now() > deadline) throw new Error(`ProFTPD did not greet through ftpmasq within 20 s: ${greeting?.text ?? 'no reply'}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe(`the container image (${image})`, () => {
  it('runs as user 10001 without capabilities, listening on 21 with a warning-free start', async () => {
    expect((await podmanOk(['exec', proxyName, 'id', '-u'])).trim()).toBe('10001');
    const status = await podmanOk(['exec', proxyName, 'cat', '/proc/1/status']);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    const records = await proxyLog();
    const ready = records.find((record) => record['msg'] === 'ftpmasq ready');
    expect(ready?.['listen']).toEqual(['0.0.0.0:21', `0.0.0.0:${PROFTPD_SITE_LISTEN_PORT}`]);
    expect(ready?.['source']).toBe('/etc/ftpmasq/ftpmasq.yaml');
    expect(records.filter((record) => record['level'] !== 'info')).toEqual([]);
  });

  it('relays a checksummed download and upload, the 227 naming the published address', async () => {
    const client = await openSession();
    try {
      const download = await client.retrieve('small.bin');
      expect(download.setup.text).toMatch(/^227 .*\(127,0,0,1,\d+,\d+\)/);
      expect(download.final.code).toBe(226);
      expect(sha256(download.data)).toBe(sha256(small));

      const content = randomBytes(2 * 1024 * 1024 + 5);
      const upload = await client.store('uploaded.bin', content);
      expect(upload.final.code).toBe(226);
      const back = await client.retrieve('uploaded.bin', { mode: 'epsv' });
      expect(sha256(back.data)).toBe(sha256(content));
    } finally {
      client.socket.destroy();
    }
  });

  it('relays to the real ProFTPD of compose.yaml: checksummed download, and an upload checked on its disk', async () => {
    const client = await waitForProftpd();
    try {
      const download = await client.retrieve('small.bin');
      // ftpmasq's own passive range, not ProFTPD's 30000-30009.
      const [low, high] = PROFTPD_PASSIVE.split('-').map(Number);
      const port = trustedPort(download.setup.text);
      expect(port).toBeGreaterThanOrEqual(low ?? 0);
      expect(port).toBeLessThanOrEqual(high ?? 0);
      expect(download.final.code).toBe(226);
      expect(sha256(download.data)).toBe(sha256(small));
      const content = randomBytes(1024 * 1024 + 7);
      expect((await client.store('uploaded.bin', content, { mode: 'epsv' })).final.code).toBe(226);
      expect(sha256(await readFile(join(home, 'uploaded.bin')))).toBe(sha256(content));
    } finally {
      client.socket.destroy();
    }
  });

  it('answers /healthz and /metrics on the published metrics port, and its HEALTHCHECK passes', async () => {
    const health = await fetch(`http://${HOST}:${METRICS_PORT}/healthz`, { signal: AbortSignal.timeout(5_000) });
    expect(health.status).toBe(200);
    const metrics = await (await fetch(`http://${HOST}:${METRICS_PORT}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    expect(metrics).toMatch(new RegExp(`^ftpmasq_build_info\\{version="${image.split(':')[1] ?? ''}",node="24\\.\\d+\\.\\d+"\\} 1$`, 'm'));
    const check = await podman(['healthcheck', 'run', proxyName]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });

  it('drains on podman stop: the running transfer completes, exit 0 well before the stop timeout', async () => {
    const client = await openSession();
    try {
      const target = await client.pasv();
      const data = await client.connectData(target);
      // Nothing is read until the stop has begun: the transfer cannot finish before it.
      data.socket.pause();
      client.send('RETR large.bin');
      expect((await client.readReply()).code).toBe(150);

      const started = Date.now();
      const stopping = podman(['stop', '-t', String(STOP_TIMEOUT_S), proxyName], (STOP_TIMEOUT_S + 30) * 1000);
      await waitUntil(
        async () => (await proxyLog()).some((record) => record['msg'] === 'draining'),
        20_000,
        () => 'the draining line after podman stop',
      );
      expect(data.hasEnded).toBe(false);
      data.socket.resume();

      const received = await withTimeout(data.ended, 50_000, () => `the drained transfer, ${data.bytesReceived} bytes so far`);
      expect(received.length).toBe(large.length);
      expect(sha256(received)).toBe(sha256(large));
      expect((await client.readReply(20_000)).code).toBe(226);

      const stopped = await stopping;
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(Date.now() - started).toBeLessThan((STOP_TIMEOUT_S * 1000) / 2);
      const state = await podmanOk(['inspect', proxyName, '--format', '{{.State.ExitCode}} {{.State.Status}}']);
      expect(state.trim()).toBe('0 exited');
      const messages = (await proxyLog()).map((record) => record['msg']);
      expect(messages).toContain('drained');
      expect(messages.at(-1)).toBe('stopped');
      const last = (await proxyLog()).at(-1);
      expect(last).toMatchObject({ cut: 0, timedOut: false, forced: false });
    } finally {
      client.socket.destroy();
    }
  });
});
