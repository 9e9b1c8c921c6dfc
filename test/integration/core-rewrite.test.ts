/**
 * Rewrite mode: only the 227 address is changed (to --public-address), the upstream's port is
 * kept and data goes straight to the upstream, not through ftpmasq. A 227 that already names the
 * public address, or a routable one, passes byte-identical; odd 227 forms come out canonical.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig, type RawOptions } from '../../src/config/schema.js';
import { start, type RunningDaemon } from '../../src/daemon.js';
import { LegacyFtpServer } from '../../src/demo/legacy-ftp-server.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { RawFtpClient, sha256, trust227, type Endpoint } from '../helpers/raw-ftp-client.js';
import { ScriptedUpstream } from '../helpers/scripted-upstream.js';

// Below the ephemeral range (32768-60999); one hundred per integration file (unused in rewrite
// mode, which must not take any: a test checks that).
const PASSIVE_PORTS = '23400-23499';

const FILE = randomBytes(1024 * 1024);

const cleanups: Array<() => Promise<void>> = [];
const clients: RawFtpClient[] = [];
const upstreams: ScriptedUpstream[] = [];

async function startProxy(upstream: string, options: RawOptions = {}): Promise<{ daemon: RunningDaemon; endpoint: Endpoint }> {
  const config = buildConfig({
    listen: '127.0.0.1:0',
    upstream,
    metricsListen: 'off',
    passivePorts: PASSIVE_PORTS,
    logLevel: 'silent',
    mode: 'rewrite',
    publicAddress: '127.0.0.1',
    ...options,
  });
  const daemon = await start(config, { logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }) });
  cleanups.push(() => daemon.stop());
  const endpoint = daemon.addresses[0];
  if (endpoint === undefined) throw new Error('daemon has no listener');
  return { daemon, endpoint };
}

async function legacyServer(advertisedAddress?: string): Promise<{ legacy: LegacyFtpServer; address: string }> {
  const legacy = new LegacyFtpServer({
    host: '127.0.0.1',
    files: new Map([['file.bin', FILE]]),
    ...(advertisedAddress === undefined ? {} : { advertisedAddress }),
  });
  const endpoint = await legacy.listen();
  cleanups.push(() => legacy.close());
  return { legacy, address: `${endpoint.host}:${endpoint.port}` };
}

async function open(endpoint: Endpoint): Promise<RawFtpClient> {
  const client = await RawFtpClient.open(endpoint);
  clients.push(client);
  await client.login();
  return client;
}

/** An upstream whose PASV reply is `reply`, for the rest the usual. */
async function upstreamAnsweringPasv(reply: string): Promise<ScriptedUpstream> {
  const upstream = await ScriptedUpstream.start(async (connection) => {
    await connection.greetAndLogin();
    await connection.serve((verb) => (verb === 'PASV' ? reply : undefined));
  });
  upstreams.push(upstream);
  cleanups.push(() => upstream.close());
  return upstream;
}

async function counter(daemon: RunningDaemon, name: 'rewrites' | 'dataConnections', label: string): Promise<number> {
  const metric = await (name === 'rewrites' ? daemon.metrics.rewrites.get() : daemon.metrics.dataConnections.get());
  return metric.values.find((value) => Object.values(value.labels).includes(label))?.value ?? 0;
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  const errors = upstreams.splice(0).flatMap((upstream) => upstream.scriptErrors);
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  expect(errors).toEqual([]);
});

describe('rewrite mode', () => {
  it("rewrites 10.0.11.251 to the public address, keeps the upstream's port, and data goes straight to the upstream", async () => {
    const { legacy, address } = await legacyServer();
    const { daemon, endpoint } = await startProxy(address);
    const client = await open(endpoint);
    const result = await client.retrieve('file.bin');

    const upstreamReply = legacy.pasvReplies.at(-1) ?? '';
    expect(upstreamReply).toContain('(10,0,11,251,');
    const tuple = /,(\d+),(\d+)\)/.exec(upstreamReply);
    const upstreamPort = Number(tuple?.[1]) * 256 + Number(tuple?.[2]);
    expect(result.setup.text).toMatch(/^227 Entering Passive Mode \(127,0,0,1,\d+,\d+\)\.\r\n$/);
    expect(trust227(result.setup).port).toBe(upstreamPort);
    expect(sha256(result.data)).toBe(sha256(FILE));
    expect(result.final.code).toBe(226);

    // Straight to the upstream: ftpmasq relayed nothing and held no port.
    expect(await counter(daemon, 'dataConnections', 'passive')).toBe(0);
    expect(await counter(daemon, 'rewrites', 'pasv')).toBe(1);
    expect((await daemon.metrics.passivePortsInUse.get()).values[0]?.value).toBe(0);
  });

  it('uploads straight to the upstream', async () => {
    const { legacy, address } = await legacyServer();
    const { endpoint } = await startProxy(address);
    const client = await open(endpoint);
    const content = randomBytes(512 * 1024);
    const result = await client.store('up.bin', content);
    expect(result.final.code).toBe(226);
    expect(sha256(legacy.files.get('up.bin') ?? Buffer.alloc(0))).toBe(sha256(content));
  });

  it('leaves a 227 that already names the public address byte-identical', async () => {
    const { legacy, address } = await legacyServer('127.0.0.1');
    const { daemon, endpoint } = await startProxy(address);
    const client = await open(endpoint);
    const result = await client.retrieve('file.bin');
    expect(result.setup.text).toBe(`${legacy.pasvReplies.at(-1)}\r\n`);
    expect(sha256(result.data)).toBe(sha256(FILE));
    expect(await counter(daemon, 'rewrites', 'pasv')).toBe(0);
  });

  it.each([
    { title: 'the public address with odd text around it', reply: '227 Entering Passive Mode (127,0,0,1,200,10). Have a nice day\r\n' },
    { title: 'a routable address (a correctly configured server)', reply: '227 Entering Passive Mode (8,8,8,8,200,10)\r\n' },
    { title: 'the public address with bare LF', reply: '227 Entering Passive Mode (127,0,0,1,200,10)\n' },
  ])('leaves a 227 naming $title byte-identical', async ({ reply }) => {
    const upstream = await upstreamAnsweringPasv(reply);
    const { endpoint } = await startProxy(upstream.address);
    const client = await open(endpoint);
    const answer = await client.command('PASV');
    expect(answer.text).toBe(reply);
  });

  it.each([
    { title: 'without parentheses', reply: '227 Entering Passive Mode 10,0,11,251,195,80\r\n' },
    { title: 'with spaces after the commas', reply: '227 Entering Passive Mode (10, 0, 11, 251, 195, 80)\r\n' },
    { title: 'with "=" and no text', reply: '227 =10,0,11,251,195,80\r\n' },
    { title: 'without the trailing dot, lower case', reply: '227 entering passive mode (10,0,11,251,195,80)\r\n' },
    { title: 'split over two lines', reply: '227-Entering Passive Mode\r\n227 10,0,11,251,195,80\r\n' },
  ])('rewrites a 227 $title canonically', async ({ reply }) => {
    const upstream = await upstreamAnsweringPasv(reply);
    const { endpoint } = await startProxy(upstream.address);
    const client = await open(endpoint);
    const answer = await client.command('PASV');
    expect(answer.text).toBe('227 Entering Passive Mode (127,0,0,1,195,80).\r\n');
    expect((await client.command('NOOP')).code).toBe(200);
  });
});
