/**
 * PROXY protocol through a real daemon on loopback (issue 15 items 4 and 5). The load balancer is
 * a client bound to 127.0.0.2 (the trusted source); the headers it sends name clients at other
 * 127.0.0.0/8 addresses, so anything ftpmasq might dial stays on loopback.
 */
import net from 'node:net';
import { duplexPair } from 'node:stream';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { configFromDocument } from '../../src/config/load-config.js';
import { start, type RunningDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { formatProxyHeaderV1, formatProxyHeaderV2, parseProxyHeader, V2_SIGNATURE, type ProxyHeaderParse } from '../../src/protocol/proxy-header.js';
import { countRefusals, createProxyHarness } from '../helpers/proxy-harness.js';
import { commandLine, delay, RawFtpClient, sha256, waitUntil, type Endpoint } from '../helpers/raw-ftp-client.js';
import type { UpstreamConnection } from '../helpers/scripted-upstream.js';
import { makeCertificate } from './support/ftps-fixtures.js';

const PASSIVE_PORTS = '29000-29049';
const harness = createProxyHarness({ passivePorts: PASSIVE_PORTS });
const CONTENT = Buffer.from(Array.from({ length: 400_000 }, (_, index) => (index * 17) % 253));
const BALANCER = '127.0.0.2';
const CLIENT = { host: '127.0.0.50', port: 40000 };

const stops: Array<() => Promise<void>> = [];
const clients: RawFtpClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

async function startFromDocument(document: Record<string, unknown>): Promise<{ daemon: RunningDaemon; endpoint: Endpoint }> {
  const config = configFromDocument(
    { listen: '127.0.0.1:0', metricsListen: 'off', passivePorts: PASSIVE_PORTS, logLevel: process.env['PP_DEBUG'] ?? 'silent', ...document },
    { source: 'test' },
  );
  const daemon = await start(config, { logger: createLogger(process.env['PP_DEBUG'] === undefined ? 'silent' : 'debug'), metrics: new Metrics({ defaultMetrics: false }) });
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

/** A control connection through the "balancer": the header first, then the FTP session. */
async function throughBalancer(endpoint: Endpoint, header: Buffer): Promise<RawFtpClient> {
  const client = await connectFrom(endpoint, BALANCER);
  client.writeRaw(header);
  return client;
}

const headerFor = (client: { host: string; port: number }, endpoint: Endpoint): Buffer => formatProxyHeaderV2(client, { host: endpoint.host, port: endpoint.port });

async function serveLoggedIn(connection: UpstreamConnection): Promise<void> {
  await connection.greetAndLogin();
  await connection.serve();
}

const TRUSTED = { trusted: [`${BALANCER}/32`], timeout: '2s' };

describe('proxyProtocol: a trusted source', () => {
  it("v2: the header's client is the session's client: allowClients admits it although the socket is the balancer's", async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: TRUSTED, allowClients: [`${CLIENT.host}/32`] });
    const admitted = await throughBalancer(endpoint, headerFor(CLIENT, endpoint));
    await admitted.expectReply(220);
    await admitted.login();
    // The same balancer naming another client: that client is outside allowClients.
    const denied = await throughBalancer(endpoint, headerFor({ host: '127.0.0.51', port: 40001 }, endpoint));
    expect((await denied.readReply()).code).toBe(421);
    await denied.waitForClose();
    expect(await countRefusals(daemon, 'client_denied')).toBe(1);
  });

  it('v1 with the first FTP command in the same segment: the command is not lost', async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: TRUSTED });
    const client = await connectFrom(endpoint, BALANCER);
    client.writeRaw(Buffer.concat([formatProxyHeaderV1(CLIENT, { host: endpoint.host, port: endpoint.port }), commandLine('USER', 'scott')]));
    await client.expectReply(220);
    await client.expectReply(331);
    client.send('PASS tiger');
    await client.expectReply(230);
  });

  it("maxSessionsPerClient counts the header's client, not the balancer", async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: TRUSTED, maxSessionsPerClient: 1 });
    await (await throughBalancer(endpoint, headerFor(CLIENT, endpoint))).expectReply(220);
    await (await throughBalancer(endpoint, headerFor({ host: '127.0.0.52', port: 1 }, endpoint))).expectReply(220);
    const second = await throughBalancer(endpoint, headerFor({ host: CLIENT.host, port: 2 }, endpoint));
    expect((await second.readReply()).code).toBe(421);
    expect(await countRefusals(daemon, 'client_session_limit')).toBe(1);
  });

  it("v2 LOCAL (a health check) keeps the socket's own address", async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: TRUSTED, denyClients: [`${BALANCER}/32`] });
    const local = Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
    const check = await throughBalancer(endpoint, local);
    expect((await check.readReply()).code).toBe(421);
    expect(await countRefusals(daemon, 'client_denied')).toBe(1);
  });

  it('without a header (FTP bytes first): closed before any upstream connection, counted', async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: TRUSTED });
    const client = await connectFrom(endpoint, BALANCER);
    client.send('USER scott');
    await client.waitForClose();
    expect(await countRefusals(daemon, 'proxy_header_missing')).toBe(1);
    await delay(100);
    expect(upstream.sessions()).toHaveLength(0);
  });

  it('silent: closed when the timeout runs out, counted', async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: { ...TRUSTED, timeout: '300ms' } });
    const client = await connectFrom(endpoint, BALANCER);
    const startedAt = Date.now();
    await client.waitForClose(3000);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
    expect(await countRefusals(daemon, 'proxy_header_missing')).toBe(1);
  });

  it('a malformed header (v2 with an unknown family) is closed and counted as invalid', async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: TRUSTED });
    const bad = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x77, 0x00, 0x00])]);
    const client = await throughBalancer(endpoint, bad);
    await client.waitForClose();
    expect(await countRefusals(daemon, 'proxy_header_invalid')).toBe(1);
  });
});

describe('proxyProtocol: an untrusted source', () => {
  it('sending a header is closed, counted, and the header never reaches the upstream', async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: TRUSTED });
    const client = await connectFrom(endpoint, '127.0.0.3');
    await client.expectReply(220);
    client.writeRaw(formatProxyHeaderV1({ host: '127.0.0.99', port: 1 }, { host: endpoint.host, port: endpoint.port }));
    await client.waitForClose();
    expect(await countRefusals(daemon, 'proxy_header_untrusted')).toBe(1);
    for (const session of upstream.sessions()) expect(session.receivedBytes().includes('PROXY')).toBe(false);
  });

  it('a v2 signature split over two segments is caught too', async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: TRUSTED });
    const client = await connectFrom(endpoint, '127.0.0.3');
    await client.expectReply(220);
    const header = headerFor({ host: '127.0.0.99', port: 1 }, endpoint);
    client.writeRaw(header.subarray(0, 5));
    await delay(50);
    client.writeRaw(header.subarray(5));
    await client.waitForClose();
    expect(await countRefusals(daemon, 'proxy_header_untrusted')).toBe(1);
  });

  it('without a header is an ordinary session (PROT shares its first letters with PROXY)', async () => {
    const upstream = await harness.scripted(async (connection) => {
      connection.write('220 ready\r\n');
      await connection.serve();
    });
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: TRUSTED });
    const client = await connectFrom(endpoint, '127.0.0.3');
    await client.expectReply(220);
    client.writeRaw('PRO');
    await delay(50);
    client.writeRaw('T P\r\n');
    expect((await client.readReply()).code).toBe(502);
    expect(await countRefusals(daemon, 'proxy_header_untrusted')).toBe(0);
  });
});

describe('proxyProtocolData: the data-peer check uses the real client', () => {
  async function passiveThroughBalancer(options: Record<string, unknown>) {
    const { address } = await harness.legacyServer({ files: new Map([['file.bin', CONTENT]]) });
    const started = await startFromDocument({ upstream: address, proxyProtocol: TRUSTED, publicAddress: '127.0.0.1', ...options });
    const control = await throughBalancer(started.endpoint, headerFor(CLIENT, started.endpoint));
    await control.expectReply(220);
    await control.login();
    const target = await control.pasv();
    return { ...started, control, target };
  }

  function dataThroughBalancer(target: Endpoint, header: Buffer | undefined): Promise<{ socket: net.Socket; received: Promise<Buffer> }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: target.host, port: target.port, localAddress: BALANCER }, () => {
        if (header !== undefined) socket.write(header);
        const chunks: Buffer[] = [];
        const received = new Promise<Buffer>((done) => {
          socket.on('data', (chunk: Buffer) => chunks.push(chunk));
          socket.on('close', () => done(Buffer.concat(chunks)));
        });
        resolve({ socket, received });
      });
      socket.on('error', reject);
    });
  }

  it('accepts the data connection whose header names the control client and transfers intact', async () => {
    const { control, target } = await passiveThroughBalancer({ proxyProtocolData: true });
    const data = await dataThroughBalancer(target, headerFor({ host: CLIENT.host, port: 40002 }, target));
    control.send(commandLine('RETR', 'file.bin'));
    expect((await control.readReply()).code).toBe(150);
    const [received, final] = await Promise.all([data.received, control.readReply()]);
    expect(final.code).toBe(226);
    expect(sha256(received)).toBe(sha256(CONTENT));
  });

  it('refuses a data connection whose header names another host', async () => {
    const { daemon, target } = await passiveThroughBalancer({ proxyProtocolData: true });
    const data = await dataThroughBalancer(target, headerFor({ host: '127.0.0.60', port: 40003 }, target));
    expect((await data.received).length).toBe(0);
    await waitUntil(async () => (await countRefusals(daemon, 'foreign_data_peer')) === 1, 3000, () => 'foreign_data_peer counted');
  });

  it("without proxyProtocolData the balancer's own address fails the check (why the key exists)", async () => {
    const { daemon, target } = await passiveThroughBalancer({});
    const data = await dataThroughBalancer(target, undefined);
    expect((await data.received).length).toBe(0);
    await waitUntil(async () => (await countRefusals(daemon, 'foreign_data_peer')) === 1, 3000, () => 'foreign_data_peer counted');
  });
});

/** An upstream that reads a PROXY header, records it, then greets and answers QUIT. */
async function headerRecordingUpstream(): Promise<{ address: string; headers: ProxyHeaderParse[]; dataHeaders: ProxyHeaderParse[]; close: () => Promise<void> }> {
  const headers: ProxyHeaderParse[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let received = Buffer.alloc(0);
    let greeted = false;
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (!greeted) {
        const parsed = parseProxyHeader(received);
        if (parsed.kind === 'need-more') return;
        headers.push(parsed);
        greeted = true;
        received = parsed.kind === 'ok' ? received.subarray(parsed.consumed) : Buffer.alloc(0);
        socket.write('220 header recorded\r\n');
      }
      if (received.includes('QUIT')) socket.end('221 Bye\r\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('no address');
  return {
    address: `127.0.0.1:${bound.port}`,
    headers,
    dataHeaders: [],
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('upstreamProxyProtocol', () => {
  for (const version of ['v1', 'v2'] as const) {
    it(`${version}: the upstream gets a header naming the real client before any FTP byte`, async () => {
      const upstream = await headerRecordingUpstream();
      stops.push(upstream.close);
      const { endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: TRUSTED, upstreamProxyProtocol: version });
      const client = await throughBalancer(endpoint, headerFor(CLIENT, endpoint));
      await client.expectReply(220);
      await waitUntil(() => upstream.headers.length > 0, 3000, () => 'a header at the upstream');
      expect(upstream.headers[0]).toEqual({
        kind: 'ok',
        consumed: expect.any(Number),
        header: { version: version === 'v1' ? 1 : 2, addresses: { source: CLIENT, destination: { host: endpoint.host, port: endpoint.port } } },
      });
    });
  }

  it("a direct client is named with its own address and the listener's", async () => {
    const upstream = await harness.scripted(async (connection) => {
      // The header is the first line the scripted upstream reads (v1 is one CRLF line).
      const first = await connection.readCommand();
      connection.write(`220 ${first.toString('latin1').trim()}\r\n`);
      await connection.serve();
    });
    const { endpoint } = await startFromDocument({ upstream: upstream.address, upstreamProxyProtocol: 'v1' });
    const client = await connectFrom(endpoint, '127.0.0.7');
    const greeting = await client.expectReply(220);
    expect(greeting.text).toMatch(new RegExp(`^220 PROXY TCP4 127\\.0\\.0\\.7 127\\.0\\.0\\.1 \\d+ ${endpoint.port}\r\n$`));
  });

  it('upstreamProxyProtocolData: the upstream data connection starts with the header too', async () => {
    let dataHead: Buffer | undefined;
    const upstream = await harness.scripted(async (connection) => {
      await connection.readCommand(); // the v1 header
      await connection.greetAndLogin();
      await connection.serve(async (verb) => {
        if (verb !== 'PASV') return undefined;
        const port = await connection.openDataPort();
        void port.accept().then(async (socket) => {
          dataHead = await socket.ended;
        });
        return `227 Entering Passive Mode (${port.tuple('127.0.0.1')})\r\n`;
      });
    });
    const { endpoint } = await startFromDocument({ upstream: upstream.address, upstreamProxyProtocol: 'v1', upstreamProxyProtocolData: true });
    const client = await connectFrom(endpoint, '127.0.0.7');
    await client.expectReply(220);
    await client.login();
    const target = await client.pasv();
    const data = await client.connectData(target, '127.0.0.7');
    data.socket.end('payload');
    await waitUntil(() => dataHead !== undefined, 3000, () => 'the upstream data connection ended');
    expect(dataHead?.toString('latin1')).toMatch(/^PROXY TCP4 127\.0\.0\.7 127\.0\.0\.1 \d+ \d+\r\npayload$/);
  });
});

describe('proxyProtocol with the rest of the site', () => {
  it("advertise (split horizon) answers the header's client, not the balancer", async () => {
    const { address } = await harness.legacyServer();
    const { endpoint } = await startFromDocument({
      upstream: address,
      proxyProtocol: TRUSTED,
      publicAddress: '127.0.0.9',
      advertise: [{ clients: [`${CLIENT.host}/32`], address: '127.0.0.1' }],
    });
    const inside = await throughBalancer(endpoint, headerFor(CLIENT, endpoint));
    await inside.expectReply(220);
    await inside.login();
    expect((await inside.pasv()).host).toBe('127.0.0.1');
    const outside = await throughBalancer(endpoint, headerFor({ host: '127.0.0.70', port: 1 }, endpoint));
    await outside.expectReply(220);
    await outside.login();
    const reply = await outside.command('PASV');
    expect(reply.text).toMatch(/\(127,0,0,9,/);
  });

  it('stop() does not wait for a trusted connection whose header has not come (regression: it waited for the timeout)', async () => {
    const upstream = await harness.scripted(serveLoggedIn);
    const { daemon, endpoint } = await startFromDocument({ upstream: upstream.address, proxyProtocol: { ...TRUSTED, timeout: '20s' } });
    const silent = await connectFrom(endpoint, BALANCER);
    await delay(50);
    const startedAt = Date.now();
    await daemon.stop();
    expect(Date.now() - startedAt).toBeLessThan(2000);
    await silent.waitForClose();
  });

  it('implicit FTPS behind a balancer: the TLS handshake that arrives in the same segment as the header is not lost', async () => {
    const certificate = makeCertificate();
    stops.push(async () => certificate.remove());
    const { address } = await harness.legacyServer();
    const { daemon } = await startFromDocument({
      upstream: address,
      proxyProtocol: TRUSTED,
      tlsCert: certificate.certFile,
      tlsKey: certificate.keyFile,
      tlsListen: '127.0.0.1:0',
    });
    const implicit = daemon.addresses[1];
    if (implicit === undefined) throw new Error('no implicit TLS listener');
    const tcp = net.connect({ host: implicit.host, port: implicit.port, localAddress: BALANCER });
    tcp.on('error', () => undefined);
    await new Promise<void>((resolve) => tcp.once('connect', () => resolve()));
    // The TLS client writes into one end of a pair; its first flight goes out behind the header in one write.
    const [tlsSide, wireSide] = duplexPair();
    const secure = tls.connect({ socket: tlsSide, rejectUnauthorized: false, ALPNProtocols: ['ftp'] });
    secure.on('error', () => undefined);
    wireSide.once('data', (hello: Buffer) => {
      tcp.write(Buffer.concat([headerFor(CLIENT, implicit), hello]));
      wireSide.on('data', (chunk: Buffer) => tcp.write(chunk));
      tcp.on('data', (chunk: Buffer) => wireSide.write(chunk));
    });
    const greeting = await new Promise<string>((resolve, reject) => {
      secure.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1')));
      secure.once('error', reject);
      setTimeout(() => reject(new Error('no TLS greeting within 5 s')), 5000).unref();
    });
    expect(greeting).toMatch(/^220 /);
    secure.destroy();
    tcp.destroy();
  });
});
