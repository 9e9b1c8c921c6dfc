/**
 * One test per rule of docs/SECURITY.md that the older suites prove only loosely (a test that
 * also passes with the rule removed). Each test names, in its comment, the change to src/ that
 * makes it fail: that change was made, the test seen failing, and the change undone. Where a
 * rule forbids a connection, a listener stands where the connection would land and must see
 * nothing, so a regression fails at once instead of timing out.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { countRefusals, createProxyHarness } from '../helpers/proxy-harness.js';
import { sha256, waitUntil, withTimeout, type RawFtpClient } from '../helpers/raw-ftp-client.js';
import type { UpstreamConnection } from '../helpers/scripted-upstream.js';

// Below the ephemeral range (32768-60999); 28000-28999 is the rules block, this file 28000-28049
// (epsv-delimiter.test.ts moved to 28050-28059: it shared 23700-23709 with slow-reader.test.ts).
const PASSIVE_PORTS = '28000-28049';

const { startProxy, scripted, connect, openLoggedIn } = createProxyHarness({ passivePorts: PASSIVE_PORTS });

/** How long "nothing more happens" is watched for, after the event that should be the last. */
const SETTLE_MS = 300;

/** A TCP listener on a loopback address that records every connection it gets. */
async function listenSentinel(host: string, port = 0): Promise<{ server: net.Server; port: number; accepted: net.Socket[]; close: () => Promise<void> }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((socket) => {
    accepted.push(socket);
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('sentinel has no address');
  return {
    server,
    port: address.port,
    accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of accepted) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The error code of a connect to 127.0.0.1:port, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

/** Resolves true when `count()` reaches `target` within `ms`, false when it does not. */
async function reaches(count: () => number, target: number, ms: number): Promise<boolean> {
  try {
    await waitUntil(() => count() >= target, ms, () => '');
    return true;
  } catch {
    return false;
  }
}

/** Commands the upstream received after the login (USER, PASS). */
function commandsAfterLogin(connection: UpstreamConnection): number {
  return connection.commands.length - 2;
}

describe('--max-sessions', () => {
  // Breaks when the limit check in Site.accept (src/daemon/site.ts) is removed: the third client
  // gets the upstream's 220 and the upstream sees a third session.
  it('answers 421 to a session over the limit and closes it; the upstream never sees a connection for it', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve();
    });
    const { daemon, endpoint } = await startProxy(upstream.address, { maxSessions: '2' });
    const first = await openLoggedIn(endpoint);
    await openLoggedIn(endpoint);
    const connectionsBefore = upstream.connections.length;

    const third = await connect(endpoint);
    const reply = await third.readReply();
    expect(reply.text).toBe('421 Too many connections, try again later.\r\n');
    await withTimeout(third.closed, 3000, () => 'the refused session was not closed');
    expect(await countRefusals(daemon, 'session_limit')).toBe(1);
    // A session would have dialled the upstream at once, before its greeting; give it time anyway.
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(upstream.connections.length).toBe(connectionsBefore);
    expect(upstream.sessions()).toHaveLength(2);

    // The slot comes back when a session ends.
    await first.quit();
    await waitUntil(() => daemon.sessionCount() === 1, 2000, () => `sessions: ${daemon.sessionCount()}`);
    const fourth = await openLoggedIn(endpoint);
    expect((await fourth.command('NOOP')).code).toBe(200);
  });
});

/**
 * An upstream that answers PASV with a 227 naming `advertise` (and a data port of its own on
 * 127.0.0.1), then sends `payload` for RETR in two halves: the second only when `releaseSecondHalf`
 * is called, so a test can act while the transfer runs.
 */
function passiveUpstream(payload: Buffer, options: { advertise?: (port: number) => string; holdSecondHalf?: Promise<void> } = {}) {
  return async (connection: UpstreamConnection): Promise<void> => {
    await connection.greetAndLogin();
    await connection.expectCommand('PASV');
    const port = await connection.openDataPort();
    connection.write(`227 Entering Passive Mode (${options.advertise?.(port.port) ?? port.tuple()})\r\n`);
    await connection.expectCommand('RETR');
    const data = await port.accept();
    connection.write('150 Opening BINARY mode data connection\r\n');
    const half = payload.length >> 1;
    await data.send(payload.subarray(0, half), { end: false });
    await options.holdSecondHalf;
    await data.send(payload.subarray(half), { end: true });
    connection.write('226 Transfer complete\r\n');
    await connection.serve();
  };
}

describe('passive data connections', () => {
  // Breaks when `plan.lease.stopListening()` in DataConnector.onPassiveConnection
  // (src/data/data-connector.ts) is commented out: the second connect succeeds ('connected').
  it('a second connection to the passive port while the transfer runs is refused and gets no data', async () => {
    const payload = randomBytes(256 * 1024);
    let releaseSecondHalf: () => void = () => undefined;
    const holdSecondHalf = new Promise<void>((resolve) => (releaseSecondHalf = resolve));
    const upstream = await scripted(passiveUpstream(payload, { holdSecondHalf }));
    const { daemon, endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const target = await client.pasv();
    const data = await client.connectData(target);
    client.send('RETR big.bin');
    await client.expectReply(150);
    await waitUntil(() => data.bytesReceived > 0, 5000, () => 'no data yet');

    expect(await tryConnect(target.port)).toBe('ECONNREFUSED');
    // Even a connection the kernel had queued before the port closed would be no data peer of
    // this transfer: nothing was counted as one, nothing else was accepted.
    expect(await countRefusals(daemon, 'foreign_data_peer')).toBe(0);

    releaseSecondHalf();
    const received = await data.ended;
    expect(sha256(received)).toBe(sha256(payload));
    await client.expectReply(226);
  });

  // Breaks when isAllowedDataPeer (src/protocol/address-policy.ts) returns true: the foreign
  // connection becomes the transfer's data connection and receives the file.
  it('a connection from another loopback address (127.0.0.3) is closed, counted, and gets no data; the client still gets the file', async () => {
    const payload = randomBytes(64 * 1024);
    const upstream = await scripted(passiveUpstream(payload));
    const { daemon, endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const target = await client.pasv();

    const foreign = await client.connectData(target, '127.0.0.3');
    await withTimeout(foreign.closed, 2000, () => 'the foreign data connection is still open');
    expect(foreign.bytesReceived).toBe(0);
    expect(await countRefusals(daemon, 'foreign_data_peer')).toBe(1);

    const data = await client.connectData(target);
    client.send('RETR file.bin');
    await client.expectReply(150);
    expect(sha256(await data.ended)).toBe(sha256(payload));
    await client.expectReply(226);
    expect(foreign.bytesReceived).toBe(0);
  });
});

describe("the address inside an upstream's 227", () => {
  // Integration 227s usually name 10.0.11.251, which nobody answers: a proxy that dialled it
  // would only time out. Here the 227 names 127.0.0.2, where a listener on the same port must
  // see nothing, while the real data port is on 127.0.0.1, the upstream's control address.
  // Breaks when DataConnector.dialUpstream (src/data/data-connector.ts) dials the host parsed
  // from the 227 instead of the control connection's peer: the sentinel gets the connection.
  it.each(['pasv', 'port'] as const)('is never dialled (%s): the data comes from the upstream control address', async (mode) => {
    const payload = randomBytes(32 * 1024);
    const sentinels: Array<Awaited<ReturnType<typeof listenSentinel>>> = [];
    let reportDial: () => void = () => undefined;
    // Rejects the moment the sentinel is dialled, so a regression fails at once, not by a timeout.
    const dialled = new Promise<never>((_, reject) => (reportDial = () => reject(new Error('ftpmasq dialled the address inside the 227'))));
    dialled.catch(() => undefined);
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.expectCommand('PASV');
      const port = await connection.openDataPort();
      const sentinel = await listenSentinel('127.0.0.2', port.port);
      sentinels.push(sentinel);
      sentinel.server.on('connection', () => reportDial());
      connection.write(`227 Entering Passive Mode (${port.tuple('127.0.0.2')})\r\n`);
      await connection.expectCommand('RETR');
      const data = await Promise.race([port.accept(), dialled]);
      connection.write('150 Opening BINARY mode data connection\r\n');
      await data.send(payload, { end: true });
      connection.write('226 Transfer complete\r\n');
      await connection.serve();
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    try {
      const result = await Promise.race([client.retrieve('file.bin', { mode }), dialled]);
      expect(sha256(result.data)).toBe(sha256(payload));
      expect(result.final.code).toBe(226);
      expect(sentinels).toHaveLength(1);
      expect(sentinels[0]?.accepted).toHaveLength(0);
      // Active mode too asks the server for PASV, never for a connection of its own (docs/SECURITY.md).
      const verbs = (await upstream.nextSession()).verbs();
      expect(verbs).toContain('PASV');
      expect(verbs.filter((verb) => verb === 'PORT' || verb === 'EPRT')).toEqual([]);
    } finally {
      await Promise.all(sentinels.map((sentinel) => sentinel.close()));
    }
  });
});

describe('PORT and EPRT', () => {
  // Binding a port below 1024 needs root; without it the 504 alone is asserted (core-active).
  // Breaks when the `requestedPort < MIN_ACTIVE_PORT` check of checkActiveTarget
  // (src/protocol/address-policy.ts) is removed: 200, and ftpmasq connects to the listener.
  it.skipIf(process.getuid?.() !== 0).each([
    { verb: 'PORT', argument: (port: number) => `127,0,0,1,${port >> 8},${port & 0xff}` },
    { verb: 'EPRT', argument: (port: number) => `|1|127.0.0.1|${port}|` },
  ])('$verb naming a port below 1024 of the client itself gets 504 and that port is never dialled', async ({ verb, argument }) => {
    const sentinel = await listenSentinel('127.0.0.1', 1023).catch(() => listenSentinel('127.0.0.1', 1022));
    try {
      const upstream = await scripted(async (connection) => {
        await connection.greetAndLogin();
        await connection.serve(async (command) => {
          if (command !== 'PASV') return undefined;
          const port = await connection.openDataPort();
          return `227 Entering Passive Mode (${port.tuple()})\r\n`;
        });
      });
      const { daemon, endpoint } = await startProxy(upstream.address);
      const client = await openLoggedIn(endpoint);
      const reply = await client.command(`${verb} ${argument(sentinel.port)}`);
      expect(reply.code).toBe(504);
      expect(await countRefusals(daemon, 'bounce_privileged_port')).toBe(1);
      client.send('RETR file.bin');
      await client.readReply();
      expect((await client.command('NOOP')).code).toBe(200);
      expect(sentinel.accepted).toHaveLength(0);
      expect(upstream.connections[0]?.verbs()).not.toContain('PASV');
    } finally {
      await sentinel.close();
    }
  });
});

describe('a client that does not read', () => {
  /** A reply of about 1 MiB: 128 continuation lines of 8,000 bytes, then the last line. */
  const BIG_REPLY = Buffer.concat([
    ...Array.from({ length: 128 }, () => Buffer.from(`200-${'x'.repeat(8000)}\r\n`, 'latin1')),
    Buffer.from('200 NOOP ok\r\n', 'latin1'),
  ]);
  const COMMANDS = 64;

  // Breaks when `this.client.pause('replies-unread')` in CommandExchange.send
  // (src/session/command-exchange.ts) is commented out: ftpmasq goes on reading the client and
  // the upstream receives all 64 NOOPs (64 MiB of replies then wait in ftpmasq's memory).
  it("stops reading the client's commands while its replies are unread, and reads again as they drain", async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve((verb) => (verb === 'NOOP' ? BIG_REPLY : undefined));
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const session = await upstream.nextSession();
    client.socket.pause();

    // One NOOP at a time, each sent once the upstream has the previous one: the first NOOP
    // ftpmasq does not forward shows where it stopped reading.
    let sent = 0;
    while (sent < COMMANDS) {
      client.send('NOOP');
      sent++;
      // Only the last wait runs out, so it can be generous.
      if (!(await reaches(() => commandsAfterLogin(session), sent, 1000))) break;
    }
    const forwardedWhileUnread = commandsAfterLogin(session);
    // The kernel's socket buffers on loopback hold a few MiB of replies; past them ftpmasq stops.
    expect(forwardedWhileUnread).toBeLessThan(COMMANDS / 2);
    expect(sent - forwardedWhileUnread).toBeLessThanOrEqual(1);

    client.socket.resume();
    const replies = await readRepliesOf(client, sent);
    expect(replies.every((reply) => reply.code === 200 && reply.raw.equals(BIG_REPLY))).toBe(true);
    expect(commandsAfterLogin(session)).toBe(sent);
  });
});

describe('the pipeline bound', () => {
  const MAX_PENDING_COMMANDS = 256;
  const COMMANDS = 1000;

  // Breaks when `this.client.pause('pipeline')` in CommandExchange.onClientLine
  // (src/session/command-exchange.ts) is commented out: all 1,000 NOOPs reach the upstream while
  // it has answered none.
  it('reads no further than 257 commands awaiting replies, then reads on as they are answered', async () => {
    let answer: () => void = () => undefined;
    const answering = new Promise<void>((resolve) => (answer = resolve));
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await answering;
      await connection.serve();
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const session = await upstream.nextSession();

    client.send(...Array.from({ length: COMMANDS }, () => 'NOOP'));
    await waitUntil(() => commandsAfterLogin(session) >= MAX_PENDING_COMMANDS + 1, 5000, () => `upstream has ${commandsAfterLogin(session)} NOOPs`);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    // The 257th command made it pause; everything after stays unread (in the kernel's buffers).
    expect(commandsAfterLogin(session)).toBe(MAX_PENDING_COMMANDS + 1);
    expect(client.unreadReplies).toBe(0);

    answer();
    const replies = await readRepliesOf(client, COMMANDS);
    expect(replies.every((reply) => reply.code === 200)).toBe(true);
    expect(commandsAfterLogin(session)).toBe(COMMANDS);
    expect((await client.command('NOOP')).code).toBe(200);
  });
});

async function readRepliesOf(client: RawFtpClient, count: number): Promise<Awaited<ReturnType<RawFtpClient['readReply']>>[]> {
  return client.readReplies(count, 10_000);
}
