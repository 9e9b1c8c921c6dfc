/**
 * User routing (`routes`) through a real daemon on loopback: ftpmasq greets, reads USER, dials
 * the upstream the routes choose, drops its greeting and replays USER. Two upstreams, each with
 * its own file, show which one a login reached.
 */
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { configFromDocument } from '../../src/config/load-config.js';
import { start, type RunningDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { ROUTED_GREETING } from '../../src/session/login-router.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { RawFtpClient, sha256, withTimeout, type Endpoint } from '../helpers/raw-ftp-client.js';
import type { ScriptedUpstream } from '../helpers/scripted-upstream.js';
import { FtpsTestClient, makeCertificate, type TestCertificate } from './support/ftps-fixtures.js';

const PASSIVE_PORTS = '29100-29149';
const harness = createProxyHarness({ passivePorts: PASSIVE_PORTS });
const CONTENT_A = Buffer.from(Array.from({ length: 200_000 }, (_, index) => (index * 7) % 253));
const CONTENT_B = Buffer.from(Array.from({ length: 150_000 }, (_, index) => (index * 13) % 241));

const stops: Array<() => Promise<void>> = [];
const clients: RawFtpClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

async function startFromDocument(document: Record<string, unknown>): Promise<{ daemon: RunningDaemon; endpoint: Endpoint }> {
  const config = configFromDocument(
    { listen: '127.0.0.1:0', metricsListen: 'off', passivePorts: PASSIVE_PORTS, logLevel: 'silent', ...document },
    { source: 'test' },
  );
  const daemon = await start(config, { logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }) });
  stops.push(() => daemon.stop());
  const endpoint = daemon.addresses[0];
  if (endpoint === undefined) throw new Error('no listener');
  return { daemon, endpoint };
}

async function connect(endpoint: Endpoint): Promise<RawFtpClient> {
  const client = await RawFtpClient.connect(endpoint);
  clients.push(client);
  return client;
}

async function upstreamErrors(daemon: RunningDaemon, stage: string): Promise<number> {
  return (await daemon.metrics.upstreamErrors.get()).values.find((value) => value.labels.stage === stage)?.value ?? 0;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Control connections the scripted upstream got that were not the readiness probe's. */
function loginSessions(upstream: ScriptedUpstream): number {
  return upstream.sessions().filter((session) => session.commands.length > 0).length;
}

describe('routes', () => {
  it('sends each user to the upstream of the first matching route, others to upstream, with checksummed transfers', async () => {
    const users = new Map(['alice', 'ops-17', 'ops-x', 'malice', 'bob'].map((user) => [user, 'secret']));
    const a = await harness.legacyServer({ files: new Map([['file.bin', CONTENT_A]]), greeting: '220 server A', users });
    const b = await harness.legacyServer({ files: new Map([['file.bin', CONTENT_B]]), greeting: '220 server B', users });
    const { daemon, endpoint } = await startFromDocument({
      upstream: b.address,
      routes: [
        { user: 'alice|ops-[0-9]+', upstream: a.address },
        { user: 'ops-.*', upstream: b.address },
      ],
    });
    const cases: Array<[string, Buffer]> = [
      ['alice', CONTENT_A],
      ['ops-17', CONTENT_A],
      ['ops-x', CONTENT_B],
      // Anchored: a name that only contains a pattern does not match it.
      ['malice', CONTENT_B],
      ['bob', CONTENT_B],
    ];
    for (const [user, expected] of cases) {
      const client = await connect(endpoint);
      const greeting = await client.expectReply(220);
      expect(greeting.text).toBe(ROUTED_GREETING);
      await client.login(user, 'secret');
      const result = await client.retrieve('file.bin');
      expect(result.final.code, user).toBe(226);
      expect(sha256(result.data), user).toBe(sha256(expected));
      await client.quit();
    }
    const routed = (await daemon.metrics.routedLogins.get()).values;
    expect(routed.find((value) => value.labels.via === 'route')?.value).toBe(3);
    expect(routed.find((value) => value.labels.via === 'upstream')?.value).toBe(2);
  });

  it("never shows the upstream's greeting, and pipelined USER and PASS reach the upstream in order", async () => {
    const upstream = await harness.scripted(async (connection) => {
      connection.write('220-SECRET banner of the server\r\n220 SECRET ready\r\n');
      await connection.expectCommand('USER');
      connection.write('331 Password required\r\n');
      await connection.expectCommand('PASS');
      connection.write('230 Logged in\r\n');
      await connection.serve((verb) => (verb === 'NOOP' ? '200 upstream NOOP\r\n' : undefined));
    });
    const { endpoint } = await startFromDocument({ upstream: '127.0.0.1:9', routes: [{ user: 'carol', upstream: upstream.address }] });
    const client = await connect(endpoint);
    await client.expectReply(220);
    client.send('USER carol', 'PASS secret', 'NOOP');
    expect((await client.readReply()).code).toBe(331);
    expect((await client.readReply()).code).toBe(230);
    expect((await client.readReply()).text).toBe('200 upstream NOOP\r\n');
    expect(client.receivedBytes().toString('latin1')).not.toContain('SECRET');
    const session = upstream.sessions().find((candidate) => candidate.commands.length > 0);
    expect(session?.verbs()).toEqual(['USER', 'PASS', 'NOOP']);
    expect(session?.commands[0]?.toString('latin1')).toBe('USER carol\r\n');
  });

  it('answers before USER itself and opens no upstream connection for it', async () => {
    const upstream = await harness.scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve();
    });
    const { endpoint } = await startFromDocument({ upstream: upstream.address, routes: [{ user: 'x', upstream: upstream.address }] });
    const client = await connect(endpoint);
    await client.expectReply(220);
    expect((await client.command('FEAT')).code).toBe(211);
    expect((await client.command('NOOP')).code).toBe(200);
    expect((await client.command('SYST')).code).toBe(530);
    expect((await client.command('PASV')).code).toBe(530);
    expect((await client.command('PASS secret')).code).toBe(503);
    expect((await client.command('QUIT')).code).toBe(221);
    await client.waitForClose();
    expect(loginSessions(upstream)).toBe(0);
  });

  it('answers 421 when the chosen upstream is down, and counts it', async () => {
    const down = await closedPort();
    const fallback = await harness.scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve();
    });
    const { daemon, endpoint } = await startFromDocument({ upstream: fallback.address, routes: [{ user: 'dave', upstream: `127.0.0.1:${down}` }] });
    const client = await connect(endpoint);
    await client.expectReply(220);
    client.send('USER dave');
    expect((await client.readReply()).code).toBe(421);
    await client.waitForClose();
    expect(await upstreamErrors(daemon, 'connect')).toBe(1);
    expect(loginSessions(fallback)).toBe(0);
  });

  it("passes a server's refusal greeting on as the last reply", async () => {
    const busy = await harness.scripted((connection) => {
      connection.write('421 Too many users, try later\r\n');
      connection.end();
    });
    const { daemon, endpoint } = await startFromDocument({ upstream: busy.address, routes: [{ user: 'nobody-matches', upstream: '127.0.0.1:9' }] });
    const client = await connect(endpoint);
    await client.expectReply(220);
    client.send('USER erin');
    expect((await client.readReply()).text).toBe('421 Too many users, try later\r\n');
    await client.waitForClose();
    expect(await upstreamErrors(daemon, 'connect')).toBe(1);
  });

  it('answers 421 when the upstream does not greet within greetingTimeout', async () => {
    const silent = await harness.scripted(async (connection) => {
      await connection.waitForHangUp(10_000);
    });
    const { daemon, endpoint } = await startFromDocument({ upstream: silent.address, greetingTimeout: '300ms', routes: [{ user: 'z', upstream: silent.address }] });
    const client = await connect(endpoint);
    await client.expectReply(220);
    client.send('USER frank');
    const reply = await client.readReply();
    expect(reply.code).toBe(421);
    expect(reply.text).toMatch(/did not greet/);
    expect(await upstreamErrors(daemon, 'greeting_timeout')).toBe(1);
  });

  it('closes the upstream connection it is still greeting when the client leaves', async () => {
    const silent = await harness.scripted(async (connection) => {
      await connection.waitForHangUp(10_000);
    });
    const { daemon, endpoint } = await startFromDocument({ upstream: silent.address, routes: [{ user: 'z', upstream: silent.address }] });
    const client = await connect(endpoint);
    await client.expectReply(220);
    client.send('USER gina');
    const upstream = await silent.nextSession();
    // A reset, not a half-close: after a FIN the session would go on (its USER is owed a reply).
    client.socket.resetAndDestroy();
    // Without the router's close() the greeting wait would hold it for greetingTimeout (10 s).
    await upstream.waitForClose(2000);
    expect(await upstreamErrors(daemon, 'greeting_timeout')).toBe(0);
    expect(await upstreamErrors(daemon, 'connect')).toBe(0);
  });

  it('keeps the transparent greeting on a site without routes', async () => {
    const { address } = await harness.legacyServer({ greeting: '220 the server itself' });
    const { endpoint } = await startFromDocument({ upstream: address });
    const client = await connect(endpoint);
    expect((await client.expectReply(220)).text).toBe('220 the server itself\r\n');
  });
});

describe('routes on a site with a certificate', () => {
  let certificate: TestCertificate;
  beforeAll(() => {
    certificate = makeCertificate();
  });
  afterAll(() => certificate.remove());

  it('AUTH TLS, PBSZ and PROT before USER are answered by ftpmasq; the login then goes to the routed upstream over TLS', async () => {
    const users = new Map([['tls-user', 'secret']]);
    const routed = await harness.legacyServer({ files: new Map([['file.bin', CONTENT_A]]), users });
    const fallback = await harness.legacyServer({ users });
    const { endpoint } = await startFromDocument({
      upstream: fallback.address,
      tlsCert: certificate.certFile,
      tlsKey: certificate.keyFile,
      clientTls: 'required',
      routes: [{ user: 'tls-.*', upstream: routed.address }],
    });
    const client = await FtpsTestClient.connect(endpoint);
    expect((await client.reply()).text).toBe(ROUTED_GREETING);
    // clientTls required: a plain USER is refused before any upstream connection.
    expect((await client.command('USER tls-user')).code).toBe(530);
    const feat = await client.command('FEAT');
    expect(feat.text).toContain(' AUTH TLS\r\n');
    await client.startTls();
    expect((await client.command('PBSZ 0')).code).toBe(200);
    expect((await client.command('PROT P')).code).toBe(200);
    expect((await client.command('USER tls-user')).code).toBe(331);
    expect((await client.command('PASS secret')).code).toBe(230);
    expect((await client.command('SIZE file.bin')).text).toContain(String(CONTENT_A.length));
    client.close();
  });

  it('greets over TLS at once on an implicit FTPS listener', async () => {
    const upstream = await harness.legacyServer();
    const { daemon } = await startFromDocument({
      upstream: upstream.address,
      tlsCert: certificate.certFile,
      tlsKey: certificate.keyFile,
      tlsListen: '127.0.0.1:0',
      routes: [{ user: 'x', upstream: upstream.address }],
    });
    const implicit = daemon.addresses[1];
    if (implicit === undefined) throw new Error('no implicit listener');
    const secure = tls.connect({ host: implicit.host, port: implicit.port, rejectUnauthorized: false });
    secure.on('error', () => undefined);
    const replies: string[] = [];
    const next = (): Promise<string> =>
      withTimeout(new Promise<string>((resolve) => secure.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1')))), 5000, () => 'a TLS reply');
    replies.push(await next());
    secure.write('USER scott\r\n');
    replies.push(await next());
    secure.write('PASS tiger\r\n');
    replies.push(await next());
    expect(replies).toEqual([ROUTED_GREETING, expect.stringMatching(/^331 /), expect.stringMatching(/^230 /)]);
    secure.destroy();
  });
});
