/**
 * A session's lifecycle on real sockets: the drain hook the daemon's shutdown uses (beginDrain,
 * whenIdle) and the per-site timeouts (greeting, login, idle, data stall). Sessions are made here
 * the way the daemon makes them (`new ControlSession(connFromSocket(socket), context, ...)`), so a
 * test can reach the session it drains and give the site short timeouts.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/schema.js';
import type { SiteConfig } from '../../src/config/types.js';
import { PassivePortPool } from '../../src/data/passive-port-pool.js';
import { connFromSocket } from '../../src/net/conn.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { ControlSession } from '../../src/session/control-session.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { delay, sha256, trust227, waitUntil, withTimeout, type Endpoint } from '../helpers/raw-ftp-client.js';
import type { UpstreamConnection, UpstreamDataSocket } from '../helpers/scripted-upstream.js';

const PASSIVE_PORTS = '21100-21199';
const { scripted, open } = createProxyHarness({ passivePorts: PASSIVE_PORTS });

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
