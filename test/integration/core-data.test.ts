/**
 * Data connections through ftpmasq's relay: the final-reply gate (no 226 before the data),
 * upload half-close, the data-peer check, passive port lifetime (timeout, exhaustion, release)
 * and the pathological 227 forms a relay must still parse.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { createProxyHarness, countPortsInUse, countRefusals } from '../helpers/proxy-harness.js';
import { delay, sha256, trust227, waitUntil, withTimeout } from '../helpers/raw-ftp-client.js';
import type { Script, UpstreamConnection, UpstreamDataSocket } from '../helpers/scripted-upstream.js';

// Below the ephemeral range (32768-60999); one hundred per integration file.
const PASSIVE_LOW = 23300;
const PASSIVE_HIGH = 23349;
/** A range of exactly one port, for exhaustion. */
const SINGLE_PORT = 23350;

const SAMPLE = Buffer.from('Hello, FTP!\n');

const { startProxy, scripted, legacyServer, openLoggedIn } = createProxyHarness({
  passivePorts: `${PASSIVE_LOW}-${PASSIVE_HIGH}`,
  legacy: { files: new Map([['sample.txt', SAMPLE]]) },
});

/**
 * The upstream side of one passive transfer: log in, answer PASV with `format227` of a data port
 * of its own, wait for `verb`, accept the proxy's data connection. The caller writes the rest.
 */
async function acceptTransfer(
  connection: UpstreamConnection,
  verb: 'RETR' | 'STOR',
  format227 = (tuple: string) => `227 Entering Passive Mode (${tuple})\r\n`,
): Promise<UpstreamDataSocket> {
  await connection.greetAndLogin();
  await connection.expectCommand('PASV');
  const port = await connection.openDataPort();
  connection.write(format227(port.tuple()));
  await connection.expectCommand(verb);
  return port.accept();
}

/** Resolves with the error code of a connect to 127.0.0.1:port, or 'connected'. */
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

describe('the final-reply gate', () => {
  /**
   * An upstream that says 150 and 226 at once, writes the data 100 ms later and closes the data
   * socket 100 ms after that: a proxy without the gate hands the client 226 at least 100 ms before
   * the data. The gap between the last byte and the FIN matters to the client's view: a FIN that
   * arrives with data still unread can be read after a 226 that the proxy rightly wrote later
   * (each socket is read in turn), so the data is in the client's hands before the FIN comes.
   */
  function earlyFinalReply(payload: Buffer, preliminary = '150 Opening BINARY mode data connection\r\n'): Script {
    return async (connection) => {
      const data = await acceptTransfer(connection, 'RETR');
      connection.write(`${preliminary}226 Transfer complete\r\n`);
      await delay(100);
      await data.send(payload, { end: false });
      await delay(100);
      await data.send(Buffer.alloc(0), { end: true });
      await connection.serve();
    };
  }

  it('delivers every data byte and the data EOF before a 226 the upstream sent first', async () => {
    const payload = randomBytes(256 * 1024);
    const upstream = await scripted(earlyFinalReply(payload));
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const result = await client.retrieve('early.bin');
    expect(result.final.text).toBe('226 Transfer complete\r\n');
    expect(sha256(result.data)).toBe(sha256(payload));
    const eof = client.indexOfEvent((event) => event.kind === 'data-end');
    const final = client.indexOfReply(226);
    expect(eof, client.transcript()).toBeGreaterThanOrEqual(0);
    expect(eof, client.transcript()).toBeLessThan(final);
  });

  it('holds the 226 the same way when the client connects only after sending RETR', async () => {
    const payload = randomBytes(256 * 1024);
    const upstream = await scripted(earlyFinalReply(payload));
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const target = await client.pasv();
    client.send('RETR late-connect.bin');
    await delay(50);
    const data = await client.connectData(target);
    await client.expectReply(150);
    await client.expectReply(226);
    expect(data.hasEnded, client.transcript()).toBe(true);
    expect(sha256(await data.ended)).toBe(sha256(payload));
  });

  it('holds a 226 sent the instant the upstream accepts the data connection', async () => {
    const payload = randomBytes(64 * 1024);
    const upstream = await scripted(earlyFinalReply(payload, '150 here it comes\r\n'));
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const target = await client.pasv();
    client.send('RETR x');
    const data = await client.connectData(target);
    await client.expectReply(150);
    await client.expectReply(226);
    expect(data.hasEnded, client.transcript()).toBe(true);
    expect((await data.ended).equals(payload)).toBe(true);
  });

  it('passes a 426 on after a brief flush when the upstream aborts and leaves the data socket open', async () => {
    let upstreamData: UpstreamDataSocket | undefined;
    const upstream = await scripted(async (connection) => {
      upstreamData = await acceptTransfer(connection, 'RETR');
      connection.write('150 Opening\r\n');
      await upstreamData.send(Buffer.alloc(1000, 0x61), { end: false });
      await delay(20);
      connection.write('426 Connection closed; transfer aborted\r\n');
      await connection.serve();
    });
    const { daemon, endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const target = await client.pasv();
    const data = await client.connectData(target);
    client.send('RETR abort.bin');
    await client.expectReply(150);
    const started = Date.now();
    await client.expectReply(426, 4000);
    expect(Date.now() - started).toBeLessThan(3000);
    await withTimeout(data.closed, 1000, () => 'client data connection still open after 426');
    expect(data.bytesReceived).toBe(1000);
    await withTimeout(upstreamData?.hungUp ?? Promise.resolve(), 1000, () => 'upstream data still open');
    expect((await client.command('NOOP')).code).toBe(200);
    await waitUntil(async () => (await countPortsInUse(daemon)) === 0, 1000, () => 'port still held');
  });
});

describe('uploads', () => {
  it("passes the upload's end on as a half-close: the upstream gets every byte and EOF, then replies 226", async () => {
    const content = randomBytes(4 * 1024 * 1024);
    let received: Buffer | undefined;
    const upstream = await scripted(async (connection) => {
      const data = await acceptTransfer(connection, 'STOR');
      data.readSlowly(2);
      connection.write('150 Ok to send data\r\n');
      // Rejects if the proxy resets instead of half-closing.
      received = await data.ended;
      connection.write('226 Transfer complete\r\n');
      await delay(50);
      await data.send(Buffer.alloc(0), { end: true });
      await connection.serve();
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const result = await client.store('up.bin', content);
    expect(result.final.text).toBe('226 Transfer complete\r\n');
    expect(received?.length).toBe(content.length);
    expect(sha256(received ?? Buffer.alloc(0))).toBe(sha256(content));
  });
});

describe('data peer check', () => {
  it('closes and counts a data connection from a foreign source address; the real client still connects', async () => {
    const { daemon, endpoint } = await startProxy((await legacyServer()).address);
    const client = await openLoggedIn(endpoint);
    const target = await client.pasv();
    expect(target.host).toBe('127.0.0.1');

    const foreign = await client.connectData(target, '127.0.0.2');
    await withTimeout(foreign.closed, 1000, () => 'foreign data connection still open');
    expect(foreign.bytesReceived).toBe(0);
    expect(await countRefusals(daemon, 'foreign_data_peer')).toBe(1);
    expect(await daemon.metrics.registry.getSingleMetricAsString('ftpmasq_refusals_total')).toContain(
      'ftpmasq_refusals_total{site="default",reason="foreign_data_peer"} 1',
    );

    const data = await client.connectData(target);
    client.send('RETR sample.txt');
    await client.expectReply(150);
    expect((await data.ended).equals(SAMPLE)).toBe(true);
    await client.expectReply(226);
  });
});

describe('passive ports', () => {
  it('releases a passive port the client never connects to after --passive-timeout', async () => {
    const { daemon, endpoint } = await startProxy((await legacyServer()).address, { passiveTimeout: '300ms' });
    const client = await openLoggedIn(endpoint);
    const started = Date.now();
    const target = await client.pasv();
    expect(await countPortsInUse(daemon)).toBe(1);
    await waitUntil(async () => (await countPortsInUse(daemon)) === 0, 2000, () => 'port still in use');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await tryConnect(target.port)).toBe('ECONNREFUSED');
    expect((await client.command('NOOP')).code).toBe(200);
  });

  it('answers 425 when the range is exhausted, and the session goes on', async () => {
    const { daemon, endpoint } = await startProxy((await legacyServer()).address, { passivePorts: `${SINGLE_PORT}-${SINGLE_PORT}` });
    const first = await openLoggedIn(endpoint);
    const second = await openLoggedIn(endpoint);
    const held = await first.pasv();
    expect(held.port).toBe(SINGLE_PORT);
    const refused = await second.command('PASV');
    expect(refused.text).toBe("425 Can't open data connection: no free passive port.\r\n");
    expect(await countRefusals(daemon, 'passive_ports_exhausted')).toBe(1);
    expect((await second.command('NOOP')).code).toBe(200);

    // The first session's port works, and once its transfer is over the second gets it.
    const data = await first.connectData(held);
    first.send('RETR sample.txt');
    await first.expectReply(150);
    expect((await data.ended).equals(SAMPLE)).toBe(true);
    await first.expectReply(226);
    await waitUntil(async () => (await countPortsInUse(daemon)) === 0, 1000, () => 'port still held after the transfer');
    const retried = await second.retrieve('sample.txt');
    expect(trust227(retried.setup).port).toBe(SINGLE_PORT);
    expect(retried.data.equals(SAMPLE)).toBe(true);
  });

  it('a new PASV releases the unused port of the previous one', async () => {
    const { daemon, endpoint } = await startProxy((await legacyServer()).address);
    const client = await openLoggedIn(endpoint);
    const first = await client.pasv();
    expect(await countPortsInUse(daemon)).toBe(1);
    const second = await client.pasv();
    expect(second.port).not.toBe(first.port);
    expect(await countPortsInUse(daemon)).toBe(1);
    expect(await tryConnect(first.port)).toBe('ECONNREFUSED');
    const epsv = await client.command('EPSV');
    expect(epsv.code).toBe(229);
    expect(await countPortsInUse(daemon)).toBe(1);
    expect(await tryConnect(second.port)).toBe('ECONNREFUSED');
  });

  it('a second PASV in a one-port range gets the same port again', async () => {
    const { daemon, endpoint } = await startProxy((await legacyServer()).address, { passivePorts: `${SINGLE_PORT}-${SINGLE_PORT}` });
    const client = await openLoggedIn(endpoint);
    expect((await client.pasv()).port).toBe(SINGLE_PORT);
    expect((await client.pasv()).port).toBe(SINGLE_PORT);
    expect(await countPortsInUse(daemon)).toBe(1);
  });

  it('releases the port once the data connection has ended', async () => {
    const { daemon, endpoint } = await startProxy((await legacyServer()).address);
    const client = await openLoggedIn(endpoint);
    const result = await client.retrieve('sample.txt');
    expect(result.data.equals(SAMPLE)).toBe(true);
    await waitUntil(async () => (await countPortsInUse(daemon)) === 0, 1000, () => 'port still held');
    expect(await tryConnect(trust227(result.setup).port)).toBe('ECONNREFUSED');
  });
});

describe('227 forms a relay must read', () => {
  const forms: Array<{ title: string; reply: (tuple: string) => string }> = [
    { title: 'without parentheses', reply: (tuple) => `227 Entering Passive Mode ${tuple}\r\n` },
    { title: 'with spaces after the commas (OS/400)', reply: (tuple) => `227 Entering Passive Mode (${tuple.split(',').join(', ')})\r\n` },
    { title: 'with "=" and no text', reply: (tuple) => `227 =${tuple}\r\n` },
    { title: 'multi-line', reply: (tuple) => `227-Entering Passive Mode\r\n227 (${tuple})\r\n` },
  ];

  it.each(forms)('relays data for a 227 $title', async ({ reply }) => {
    const payload = randomBytes(10_000);
    const upstream = await scripted(async (connection) => {
      const data = await acceptTransfer(connection, 'RETR', reply);
      connection.write('150 Opening\r\n');
      await data.send(payload, { end: true });
      connection.write('226 Done\r\n');
      await connection.serve();
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const result = await client.retrieve('x');
    expect(result.setup.text).toMatch(/^227 Entering Passive Mode \(127,0,0,1,\d+,\d+\)\.\r\n$/);
    expect(sha256(result.data)).toBe(sha256(payload));
  });

  it('answers 425 for a 227 without an address, and the session goes on', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve((verb) => (verb === 'PASV' ? '227 Entering Passive Mode\r\n' : undefined));
    });
    const { daemon, endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const reply = await client.command('PASV');
    expect(reply.code).toBe(425);
    expect((await client.command('NOOP')).code).toBe(200);
    expect(await countPortsInUse(daemon)).toBe(0);
  });
});
