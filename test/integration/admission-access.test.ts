/**
 * Who may connect (allowClients, denyClients, maxSessionsPerClient) and what each network is told
 * (advertise), through a real daemon on loopback: Linux routes all of 127.0.0.0/8 to lo, so a
 * client bound to 127.0.0.2 is another address to ftpmasq.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { configFromDocument } from '../../src/config/load-config.js';
import { start, type RunningDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { countRefusals, createProxyHarness } from '../helpers/proxy-harness.js';
import { commandLine, delay, RawFtpClient, sha256, trust227, type Endpoint } from '../helpers/raw-ftp-client.js';
import type { ScriptedUpstream, UpstreamConnection } from '../helpers/scripted-upstream.js';

const PASSIVE_PORTS = '26000-26049';
const harness = createProxyHarness({ passivePorts: PASSIVE_PORTS });
const CONTENT = Buffer.from(Array.from({ length: 300_000 }, (_, index) => (index * 31) % 251));

async function serveLoggedIn(connection: UpstreamConnection): Promise<void> {
  await connection.greetAndLogin();
  await connection.serve();
}

const stops: Array<() => Promise<void>> = [];
const clients: RawFtpClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

function configOf(document: Record<string, unknown>) {
  return configFromDocument(
    { listen: '127.0.0.1:0', metricsListen: 'off', passivePorts: PASSIVE_PORTS, logLevel: 'silent', ...document },
    { source: 'test' },
  );
}

/** A one-site daemon from a flat document (so file-only keys can be given), stopped after the test. */
async function startFromDocument(document: Record<string, unknown>): Promise<{ daemon: RunningDaemon; endpoint: Endpoint }> {
  const daemon = await start(configOf(document), { logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }) });
  stops.push(() => daemon.stop());
  const endpoint = daemon.addresses[0];
  if (endpoint === undefined) throw new Error('no listener');
  return { daemon, endpoint };
}

async function connectFrom(endpoint: Endpoint, localAddress: string): Promise<RawFtpClient> {
  const client = await RawFtpClient.connect(endpoint, { localAddress });
  clients.push(client);
  return client;
}

async function openFrom(endpoint: Endpoint, localAddress: string): Promise<RawFtpClient> {
  const client = await connectFrom(endpoint, localAddress);
  await client.expectReply(220);
  return client;
}

/** Sessions the upstream saw, after the readiness probe (a connect closed at once) has settled. */
async function upstreamSessions(upstream: ScriptedUpstream): Promise<number> {
  await delay(100);
  return upstream.sessions().length;
}

async function expectRefused(client: RawFtpClient, text: RegExp): Promise<void> {
  const reply = await client.readReply();
  expect(reply.code).toBe(421);
  expect(reply.text).toMatch(text);
  await client.waitForClose();
}

describe('allowClients and denyClients', () => {
  it('refuses a denied address with 421 before dialling the upstream, counts it, and lets others in', async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, denyClients: ['127.0.0.2/32'], allowClients: ['127.0.0.0/8'] });
    await expectRefused(await connectFrom(endpoint, '127.0.0.2'), /your address/);
    expect(await countRefusals(daemon, 'client_denied')).toBe(1);
    await openFrom(endpoint, '127.0.0.3');
    expect(await upstreamSessions(upstream)).toBe(1);
  });

  it('refuses an address outside the allow list, admits one inside', async () => {
    const { address } = await harness.legacyServer();
    const { daemon, endpoint } = await startFromDocument({ upstream: address, allowClients: '127.0.0.4/30' });
    await expectRefused(await connectFrom(endpoint, '127.0.0.3'), /your address/);
    await openFrom(endpoint, '127.0.0.5');
    expect(await countRefusals(daemon, 'client_denied')).toBe(1);
  });
});

describe('maxSessionsPerClient', () => {
  it('refuses the next session from an address at its limit, not another address, and admits again once one ends', async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, maxSessionsPerClient: 2 });
    const first = await openFrom(endpoint, '127.0.0.2');
    await openFrom(endpoint, '127.0.0.2');
    await expectRefused(await connectFrom(endpoint, '127.0.0.2'), /from your address/);
    expect(await countRefusals(daemon, 'client_session_limit')).toBe(1);
    expect(await upstreamSessions(upstream)).toBe(2);
    await openFrom(endpoint, '127.0.0.3');
    await first.close();
    // The session's end is seen by the daemon shortly after the client's close.
    for (let attempt = 0; attempt < 50 && daemon.sessionCount() > 2; attempt++) await delay(20);
    await openFrom(endpoint, '127.0.0.2');
    expect(await countRefusals(daemon, 'client_session_limit')).toBe(1);
  });
});

describe('advertise (split horizon, relay mode)', () => {
  it('tells a matched client the rule address and transfers through it; everyone else gets publicAddress', async () => {
    const { address } = await harness.legacyServer({ files: new Map([['file.bin', CONTENT]]) });
    // 127.0.0.9 stands for a public address no loopback test can use: only its 227 is checked.
    const { endpoint } = await startFromDocument({
      upstream: address,
      publicAddress: '127.0.0.9',
      advertise: [{ clients: ['127.0.0.2/32'], address: '127.0.0.1' }],
    });
    const inside = await openFrom(endpoint, '127.0.0.2');
    await inside.login();
    const target = await inside.pasv();
    expect(target.host).toBe('127.0.0.1');
    // The data connection comes from the client's own address, as the data-peer check requires.
    const data = await inside.connectData(target, '127.0.0.2');
    inside.send(commandLine('RETR', 'file.bin'));
    expect((await inside.readReply()).code).toBe(150);
    const [received, final] = await Promise.all([data.ended, inside.readReply()]);
    expect(final.code).toBe(226);
    expect(sha256(received)).toBe(sha256(CONTENT));

    const outside = await openFrom(endpoint, '127.0.0.3');
    await outside.login();
    const reply = await outside.command('PASV');
    expect(reply.code).toBe(227);
    expect(trust227(reply).host).toBe('127.0.0.9');
  });
});

describe('passThroughClients (rewrite mode)', () => {
  it("passes the server's own 227 to a listed client and rewrites it for everyone else", async () => {
    // The legacy server names 10.0.11.251, as an unfixed server behind NAT does.
    const { address } = await harness.legacyServer();
    const { daemon, endpoint } = await startFromDocument({
      upstream: address,
      mode: 'rewrite',
      publicAddress: '127.0.0.9',
      passThroughClients: ['127.0.0.2/32'],
    });
    const inside = await openFrom(endpoint, '127.0.0.2');
    await inside.login();
    const unchanged = await inside.command('PASV');
    expect(unchanged.code).toBe(227);
    expect(unchanged.text).toMatch(/\(10,0,11,251,\d+,\d+\)/);

    const outside = await openFrom(endpoint, '127.0.0.3');
    await outside.login();
    const rewritten = await outside.command('PASV');
    expect(rewritten.text).toMatch(/\(127,0,0,9,\d+,\d+\)/);
    const counted = (await daemon.metrics.rewrites.get()).values.find((value) => value.labels.kind === 'pasv')?.value;
    expect(counted).toBe(1);
  });
});

describe('reload', () => {
  it('applies new lists and limits to the next connection; the running session stays', async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address });
    const running = await openFrom(endpoint, '127.0.0.2');
    await running.login();
    const next = configOf({ upstream: upstream.address, denyClients: '127.0.0.2' });
    expect(await daemon.reload(next)).toMatchObject({ ok: true });
    await expectRefused(await connectFrom(endpoint, '127.0.0.2'), /your address/);
    expect(running.isClosed).toBe(false);
    expect((await running.command('NOOP')).code).toBe(200);
    expect(await countRefusals(daemon, 'client_denied')).toBe(1);
  });
});
