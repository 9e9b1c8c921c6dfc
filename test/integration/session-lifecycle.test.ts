/**
 * A session's lifecycle on real sockets: the drain hook the daemon's shutdown uses (beginDrain,
 * whenIdle) and the per-site timeouts (greeting, login, idle, data stall). Sessions are made here
 * the way the daemon makes them (`new ControlSession(connFromSocket(socket), context, ...)`), so a
 * test can reach the session it drains and give the site short timeouts.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildConfig } from '../../src/config/schema.js';
import type { SiteConfig } from '../../src/config/types.js';
import { PassivePortPool } from '../../src/data/passive-port-pool.js';
import { connFromSocket } from '../../src/net/conn.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics, type RefusalReason, type UpstreamStage } from '../../src/observability/metrics.js';
import { CONTROL_KEEPALIVE_MS } from '../../src/net/conn.js';
import { STALLED_TRANSFER_REPLY } from '../../src/session/handlers/transfer.js';
import { ControlSession } from '../../src/session/control-session.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { delay, sha256, trust227, waitUntil, withTimeout, type Endpoint } from '../helpers/raw-ftp-client.js';
import type { UpstreamConnection, UpstreamDataSocket } from '../helpers/scripted-upstream.js';

const PASSIVE_PORTS = '21100-21199';
const { scripted, connect, open } = createProxyHarness({ passivePorts: PASSIVE_PORTS });

interface SessionServer {
  readonly endpoint: Endpoint;
  readonly metrics: Metrics;
  readonly pool: PassivePortPool;
  /** The session of the n-th accepted client (0-based), once accepted. */
  session(index: number): Promise<ControlSession>;
  /** ftpmasq's end of the n-th client's control connection. */
  socket(index: number): net.Socket;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A listener that makes one ControlSession per accepted client, in front of `upstream`. */
async function startSessions(upstream: string, site: Partial<SiteConfig> = {}): Promise<SessionServer> {
  const config = buildConfig({ listen: '127.0.0.1:0', upstream, passivePorts: PASSIVE_PORTS, metricsListen: 'off', logLevel: 'silent' });
  const [base] = config.sites;
  if (base === undefined) throw new Error('no site');
  const fullSite: SiteConfig = { ...base, ...site };
  const metrics = new Metrics({ defaultMetrics: false });
  const siteMetrics = metrics.forSite(fullSite.name);
  const pool = new PassivePortPool(fullSite.passivePorts, { onChange: (inUse) => siteMetrics.passivePorts(inUse, pool.capacity) });
  const context = { site: fullSite, pool, metrics: siteMetrics, logger: createLogger('silent'), diagnosis: { unroutablePasvWarned: false } };
  const sessions: ControlSession[] = [];
  const sockets: net.Socket[] = [];
  const waiters: Array<() => void> = [];
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    const session = new ControlSession(connFromSocket(socket), context, () => undefined);
    sessions.push(session);
    sockets.push(socket);
    void session.start();
    for (const wake of waiters.splice(0)) wake();
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  cleanups.push(async () => {
    for (const session of sessions) session.close('test over');
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    endpoint: { host: '127.0.0.1', port: address.port },
    metrics,
    pool,
    async session(index) {
      await waitUntil(() => sessions.length > index, 2000, () => `no session ${index}`);
      const session = sessions[index];
      if (session === undefined) throw new Error(`no session ${index}`);
      return session;
    },
    socket(index) {
      const socket = sockets[index];
      if (socket === undefined) throw new Error(`no socket ${index}`);
      return socket;
    },
  };
}

async function refusals(server: SessionServer, reason: RefusalReason): Promise<number> {
  return (await server.metrics.refusals.get()).values.find((value) => value.labels.reason === reason)?.value ?? 0;
}

async function upstreamErrors(server: SessionServer, stage: UpstreamStage): Promise<number> {
  return (await server.metrics.upstreamErrors.get()).values.find((value) => value.labels.stage === stage)?.value ?? 0;
}

/** Greets, logs in, answers the defaults. */
async function plainUpstream(connection: UpstreamConnection): Promise<void> {
  await connection.greetAndLogin();
  await connection.serve();
}

/** Tracks whether a promise has settled. */
function track(promise: Promise<void>): { readonly settled: boolean; readonly promise: Promise<void> } {
  const state = { settled: false, promise };
  void promise.then(() => {
    state.settled = true;
  });
  return state;
}

const FILE = randomBytes(256 * 1024);
const HALF = FILE.length / 2;

/**
 * An upstream that sends the first half of FILE on RETR, then waits for `release` before the
 * second half, the data EOF and the 226. Other commands get the scripted defaults.
 */
function slowRetrUpstream(release: Promise<void>): (connection: UpstreamConnection) => Promise<void> {
  return async (connection) => {
    await connection.greetAndLogin();
    await connection.serve(async (verb) => {
      if (verb === 'PASV') {
        const port = await connection.openDataPort();
        return `227 Entering Passive Mode (${port.tuple()})\r\n`;
      }
      if (verb !== 'RETR') return undefined;
      const port = connection.dataPorts.at(-1);
      if (port === undefined) return '425 No PASV\r\n';
      connection.write('150 Opening BINARY mode data connection\r\n');
      const data: UpstreamDataSocket = await port.accept();
      await data.send(FILE.subarray(0, HALF), { end: false });
      await release;
      await data.send(FILE.subarray(HALF), { end: true });
      await data.hungUp;
      return '226 Transfer complete\r\n';
    });
  };
}

describe('beginDrain and whenIdle', () => {
  it('lets a running RETR finish with its 226, answers the next command 421 and closes; whenIdle waits for the 226', async () => {
    let releaseRest: () => void = () => undefined;
    const release = new Promise<void>((resolve) => {
      releaseRest = resolve;
    });
    const upstream = await scripted(slowRetrUpstream(release));
    const server = await startSessions(upstream.address);
    const client = await open(server.endpoint);
    await client.login();
    const target = trust227(await client.expectReplyTo('PASV', 227));
    const data = await client.connectData(target);
    client.send('RETR file.bin');
    await client.expectReply(150);
    await waitUntil(() => data.bytesReceived >= HALF, 5000, () => `only ${data.bytesReceived} bytes arrived`);

    const session = await server.session(0);
    session.beginDrain();
    const controlSocket = server.socket(0);
    const writtenBefore = controlSocket.bytesWritten;
    let writtenAtIdle = 0;
    const idle = track(session.whenIdle().then(() => void (writtenAtIdle = controlSocket.bytesWritten)));
    await delay(50);
    expect(idle.settled).toBe(false);
    expect(session.isClosed).toBe(false);

    releaseRest();
    const final = await client.readReply();
    expect(final.code).toBe(226);
    expect(sha256(await data.ended)).toBe(sha256(FILE));
    await withTimeout(idle.promise, 2000, () => 'whenIdle did not resolve after the 226');
    // When whenIdle resolved, the 226 (and nothing else) had been written since the drain began.
    expect(writtenAtIdle - writtenBefore).toBe(final.raw.length);

    const refused = await client.command('NOOP');
    expect(refused.text).toBe('421 Service shutting down, try again later.\r\n');
    await client.waitForClose();
    expect(session.isClosed).toBe(true);
    const upstreamSession = await upstream.nextSession();
    expect(upstreamSession.verbs()).not.toContain('NOOP');
  });

  it('answers a command pipelined behind the running transfer 421 only after its 226', async () => {
    let releaseRest: () => void = () => undefined;
    const release = new Promise<void>((resolve) => {
      releaseRest = resolve;
    });
    const upstream = await scripted(slowRetrUpstream(release));
    const server = await startSessions(upstream.address);
    const client = await open(server.endpoint);
    await client.login();
    const data = await client.connectData(trust227(await client.expectReplyTo('PASV', 227)));
    client.send('RETR file.bin');
    await client.expectReply(150);
    (await server.session(0)).beginDrain();
    client.send('PWD');
    await delay(50);
    expect(client.unreadReplies).toBe(0);
    releaseRest();
    const [final, refused] = await client.readReplies(2);
    expect(final?.code).toBe(226);
    expect(refused?.code).toBe(421);
    expect(sha256(await data.ended)).toBe(sha256(FILE));
    await client.waitForClose();
  });

  it('keeps an idle session open, whenIdle at once, and answers its next command 421', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve();
    });
    const server = await startSessions(upstream.address);
    const client = await open(server.endpoint);
    await client.login();
    const session = await server.session(0);
    session.beginDrain();
    await withTimeout(session.whenIdle(), 100, () => 'an idle session did not resolve whenIdle at once');
    await delay(50);
    expect(session.isClosed).toBe(false);
    expect((await client.command('NOOP')).text).toBe('421 Service shutting down, try again later.\r\n');
    await client.waitForClose();
    expect((await upstream.nextSession()).verbs()).toEqual(['USER', 'PASS']);
  });

  it('resolves whenIdle when the session closes, and many calls share one promise', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve(async (verb) => (verb === 'STAT' ? new Promise<undefined>(() => undefined) : undefined));
    });
    const server = await startSessions(upstream.address);
    const client = await open(server.endpoint);
    await client.login();
    client.send('STAT');
    const session = await server.session(0);
    await waitUntil(async () => (await upstream.nextSession()).verbs().includes('STAT'), 2000, () => 'no STAT upstream');
    const first = session.whenIdle();
    // One shared promise: a caller asking again and again adds no listener to anything.
    for (let i = 0; i < 1000; i++) expect(session.whenIdle()).toBe(first);
    const idle = track(first);
    await delay(20);
    expect(idle.settled).toBe(false);
    session.close('test');
    await withTimeout(first, 1000, () => 'whenIdle did not resolve on close');
    await withTimeout(session.whenIdle(), 100, () => 'whenIdle on a closed session did not resolve at once');
  });
});

describe('timeouts', () => {
  it('greeting: an upstream that accepts and never greets gets the client 421 and the session closes', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.closed;
    });
    const server = await startSessions(upstream.address, { greetingTimeoutMs: 150 });
    const client = await connect(server.endpoint);
    const reply = await client.readReply(2000);
    expect(reply.text).toBe('421 Service not available: the server did not greet in time.\r\n');
    await client.waitForClose();
    // The silent upstream connection is hung up too (no readiness probe here: every connection is the session's).
    await waitUntil(() => upstream.connections.length === 1 && upstream.connections[0]?.isClosed === true, 2000, () => 'the upstream connection is still open');
    expect(await upstreamErrors(server, 'greeting_timeout')).toBe(1);
  });

  it('greeting: a greeting in time stops the clock', async () => {
    const upstream = await scripted(async (connection) => {
      await delay(50);
      await plainUpstream(connection);
    });
    const server = await startSessions(upstream.address, { greetingTimeoutMs: 150 });
    const client = await open(server.endpoint);
    await client.login();
    await delay(250);
    expect((await client.command('NOOP')).code).toBe(200);
    expect(await upstreamErrors(server, 'greeting_timeout')).toBe(0);
  });

  it('login: a client that has not logged in by the limit gets 421 and is closed', async () => {
    const upstream = await scripted(plainUpstream);
    const server = await startSessions(upstream.address, { loginTimeoutMs: 200 });
    const client = await open(server.endpoint);
    client.send('USER scott');
    await client.expectReply(331);
    const reply = await client.readReply(2000);
    expect(reply.text).toBe('421 Login timed out.\r\n');
    await client.waitForClose();
    expect(await refusals(server, 'login_timeout')).toBe(1);
  });

  it('login: a 230 in time stops the clock', async () => {
    const upstream = await scripted(plainUpstream);
    const server = await startSessions(upstream.address, { loginTimeoutMs: 200 });
    const client = await open(server.endpoint);
    await client.login();
    await delay(300);
    expect((await client.command('NOOP')).code).toBe(200);
    expect(await refusals(server, 'login_timeout')).toBe(0);
  });

  it('idle: no command for the limit gets 421 and a closed connection; commands keep the session', async () => {
    const upstream = await scripted(plainUpstream);
    const server = await startSessions(upstream.address, { idleTimeoutMs: 300 });
    const client = await open(server.endpoint);
    await client.login();
    for (let i = 0; i < 5; i++) {
      await delay(100);
      expect((await client.command('NOOP')).code).toBe(200);
    }
    const started = Date.now();
    const reply = await client.readReply(2000);
    expect(reply.text).toBe('421 Idle timeout, closing control connection.\r\n');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await client.waitForClose();
    expect(await refusals(server, 'idle_timeout')).toBe(1);
  });

  it('idle: never while a transfer runs; the clock starts again when it has ended', async () => {
    let releaseRest: () => void = () => undefined;
    const release = new Promise<void>((resolve) => {
      releaseRest = resolve;
    });
    const upstream = await scripted(slowRetrUpstream(release));
    const server = await startSessions(upstream.address, { idleTimeoutMs: 150 });
    const client = await open(server.endpoint);
    await client.login();
    const data = await client.connectData(trust227(await client.expectReplyTo('PASV', 227)));
    client.send('RETR file.bin');
    await client.expectReply(150);
    await delay(500);
    expect(client.isClosed).toBe(false);
    releaseRest();
    expect((await client.readReply()).code).toBe(226);
    expect(sha256(await data.ended)).toBe(sha256(FILE));
    const started = Date.now();
    expect((await client.readReply(2000)).text).toBe('421 Idle timeout, closing control connection.\r\n');
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(await refusals(server, 'idle_timeout')).toBe(1);
  });

  it.each([
    { title: 'a 226 the server sends anyway becomes 426', upstreamReply: '226 Transfer complete\r\n', expected: STALLED_TRANSFER_REPLY },
    { title: "the server's own 426 passes", upstreamReply: '426 Connection closed; transfer aborted.\r\n', expected: '426 Connection closed; transfer aborted.\r\n' },
  ])('data stall: a relay that moves no byte for the limit is closed; $title', async ({ upstreamReply, expected }) => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve(async (verb) => {
        if (verb === 'PASV') {
          const port = await connection.openDataPort();
          return `227 Entering Passive Mode (${port.tuple()})\r\n`;
        }
        if (verb !== 'RETR') return undefined;
        const port = connection.dataPorts.at(-1);
        if (port === undefined) return '425 No PASV\r\n';
        connection.write('150 Opening BINARY mode data connection\r\n');
        const data = await port.accept();
        await data.send(FILE.subarray(0, HALF), { end: false });
        // Then nothing more, until ftpmasq hangs up the stalled data connection.
        await data.hungUp;
        return upstreamReply;
      });
    });
    const server = await startSessions(upstream.address, { dataStallTimeoutMs: 200 });
    const client = await open(server.endpoint);
    await client.login();
    const data = await client.connectData(trust227(await client.expectReplyTo('PASV', 227)));
    client.send('RETR file.bin');
    await client.expectReply(150);
    const started = Date.now();
    const final = await client.readReply(3000);
    expect(final.text).toBe(expected);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(data.bytesReceived).toBe(HALF);
    expect(await refusals(server, 'data_stall')).toBe(1);
    await waitUntil(() => server.pool.inUse === 0, 2000, () => 'the passive port of the stalled relay is still held');
    expect((await client.command('NOOP')).code).toBe(200);
  });

  it('data stall: a slow transfer that keeps moving is not cut', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve(async (verb) => {
        if (verb === 'PASV') {
          const port = await connection.openDataPort();
          return `227 Entering Passive Mode (${port.tuple()})\r\n`;
        }
        if (verb !== 'RETR') return undefined;
        const port = connection.dataPorts.at(-1);
        if (port === undefined) return '425 No PASV\r\n';
        connection.write('150 Opening BINARY mode data connection\r\n');
        const data = await port.accept();
        const chunk = FILE.length / 8;
        for (let i = 0; i < 8; i++) {
          await data.send(FILE.subarray(i * chunk, (i + 1) * chunk), { end: i === 7 });
          await delay(80);
        }
        await data.hungUp;
        return '226 Transfer complete\r\n';
      });
    });
    const server = await startSessions(upstream.address, { dataStallTimeoutMs: 200 });
    const client = await open(server.endpoint);
    await client.login();
    const data = await client.connectData(trust227(await client.expectReplyTo('PASV', 227)));
    client.send('RETR file.bin');
    await client.expectReply(150);
    expect((await client.readReply(5000)).code).toBe(226);
    expect(sha256(await data.ended)).toBe(sha256(FILE));
    expect(await refusals(server, 'data_stall')).toBe(0);
  });
});

describe('TCP keepalive', () => {
  it(`is on for both control connections, probing after ${CONTROL_KEEPALIVE_MS / 1000} s of silence`, async () => {
    const keepAlive = vi.spyOn(net.Socket.prototype, 'setKeepAlive');
    try {
      const upstream = await scripted(plainUpstream);
      const server = await startSessions(upstream.address);
      const client = await open(server.endpoint);
      await client.login();
      const controlSocket = server.socket(0);
      const calls = keepAlive.mock.contexts.map((socket, index) => ({ socket, args: keepAlive.mock.calls[index] }));
      expect(calls.find((call) => call.socket === controlSocket)?.args).toEqual([true, CONTROL_KEEPALIVE_MS]);
      const upstreamSide = calls.filter((call) => call.socket !== controlSocket && call.socket instanceof net.Socket && call.socket.remotePort === upstream.port);
      expect(upstreamSide.map((call) => call.args)).toEqual([[true, CONTROL_KEEPALIVE_MS]]);
    } finally {
      keepAlive.mockRestore();
    }
  });
});
