/**
 * Commands a client sends while a transfer runs (issue 11, "ABOR" and "STAT during a transfer").
 *
 * STAT: a server may answer it during the transfer (RFC 959 4.1.3). Before, ftpmasq paired that
 * 213 with the transfer and held it until the data had all gone: a server that waits for the
 * client to have its status before it goes on never got there, and the transfer's 226 was then
 * paired with the STAT.
 *
 * ABOR while ftpmasq has stopped reading the client (the client does not read its replies): before,
 * the ABOR stayed in the socket unread, and the server went on with the transfer for ever.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/schema.js';
import { start } from '../../src/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { READ_AHEAD_BYTES } from '../../src/session/control-channel.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { sha256, waitUntil, withTimeout } from '../helpers/raw-ftp-client.js';
import type { UpstreamConnection, UpstreamDataPort, UpstreamDataSocket } from '../helpers/scripted-upstream.js';

const { startProxy, scripted, openLoggedIn, legacyServer } = createProxyHarness({ passivePorts: '29600-29649' });

const daemons: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  for (const daemon of daemons.splice(0)) await daemon.stop();
});

/** ftpmasq at debug level, its log messages collected: a test waits for the one it needs. */
async function startLoggingProxy(upstream: string): Promise<{ daemon: Awaited<ReturnType<typeof start>>; messages: string[] }> {
  const messages: string[] = [];
  const logger = createLogger('debug', {
    write: (text: string) => {
      const record: unknown = JSON.parse(text);
      if (typeof record === 'object' && record !== null && 'msg' in record) messages.push(String(record.msg));
    },
  });
  const config = buildConfig({ listen: '127.0.0.1:0', upstream, metricsListen: 'off', passivePorts: '29650-29699', logLevel: 'debug' });
  const daemon = await start(config, { logger, metrics: new Metrics({ defaultMetrics: false }) });
  daemons.push(daemon);
  return { daemon, messages };
}

const FIRST = randomBytes(1024 * 1024);
const REST = randomBytes(1024 * 1024);
const SMALL = randomBytes(100_000);
const STATUS_REPLY = '213-Status of the transfer\r\n 1048576 of 2097152 bytes sent\r\n213 End of status\r\n';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

/** PASV on a fresh data port of the scripted upstream; the port for the transfer that follows. */
async function answerPasv(connection: UpstreamConnection): Promise<{ reply: string; port: UpstreamDataPort }> {
  const port = await connection.openDataPort();
  return { reply: `227 Entering Passive Mode (${port.tuple()}).\r\n`, port };
}

describe('STAT during a transfer', () => {
  it('a server that answers STAT during the transfer: the 213 reaches the client before the data ends, then 226, the data intact', async () => {
    const clientHasStatus = deferred();
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      let port: UpstreamDataPort | undefined;
      await connection.serve(async (verb) => {
        if (verb === 'PASV') {
          const answer = await answerPasv(connection);
          port = answer.port;
          return answer.reply;
        }
        if (verb !== 'RETR' || port === undefined) return undefined;
        const data = await port.accept();
        connection.write('150 Opening BINARY mode data connection\r\n');
        await data.send(FIRST, { end: false });
        await connection.expectCommand('STAT');
        connection.write(STATUS_REPLY);
        // The rest of the file only once the client has its status: a 213 held behind the data
        // (the old pairing) never arrives.
        await clientHasStatus.promise;
        await data.send(REST, { end: true });
        await data.hungUp;
        return '226 Transfer complete\r\n';
      });
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const data = await client.connectData(await client.pasv());
    client.send('RETR big.bin');
    expect((await client.readReply()).code).toBe(150);
    await waitUntil(() => data.bytesReceived >= FIRST.length, 5000, () => `${data.bytesReceived} bytes received`);
    client.send('STAT');
    const status = await client.readReply(5000);
    expect(status.code).toBe(213);
    expect(status.lines).toHaveLength(3);
    expect(data.hasEnded).toBe(false);
    clientHasStatus.resolve();
    expect((await client.readReply()).code).toBe(226);
    expect(sha256(await data.ended)).toBe(sha256(Buffer.concat([FIRST, REST])));
    expect((await client.command('NOOP')).code).toBe(200);
  });

  it('a server that answers STAT only after the transfer (ProFTPD 1.3.8): 226 then 213, in order, the data intact', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      let port: UpstreamDataPort | undefined;
      await connection.serve(async (verb) => {
        if (verb === 'PASV') {
          const answer = await answerPasv(connection);
          port = answer.port;
          return answer.reply;
        }
        if (verb !== 'RETR' || port === undefined) return undefined;
        const data = await port.accept();
        connection.write('150 Opening BINARY mode data connection\r\n');
        await data.send(FIRST, { end: false });
        // Like ProFTPD: the STAT is read only once the transfer is over.
        await waitUntil(() => connection.verbs().includes('STAT'), 5000, () => 'no STAT reached the upstream');
        await data.send(REST, { end: true });
        await data.hungUp;
        await connection.expectCommand('STAT');
        return `226 Transfer complete\r\n${STATUS_REPLY}`;
      });
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const data = await client.connectData(await client.pasv());
    client.send('RETR big.bin');
    expect((await client.readReply()).code).toBe(150);
    client.send('STAT');
    const [final, status] = await client.readReplies(2, 5000);
    expect(final?.code).toBe(226);
    expect(status?.code).toBe(213);
    expect(sha256(await data.ended)).toBe(sha256(Buffer.concat([FIRST, REST])));
    expect((await client.command('NOOP')).code).toBe(200);
  });
});

describe('ABOR while ftpmasq has stopped reading the client', () => {
  it('a client that reads no replies: its ABOR still reaches the server, then every reply arrives in order and the session goes on', async () => {
    // A STAT reply far larger than the socket buffers: ftpmasq cannot hand it to a client that
    // does not read, so it stops reading that client (and the upstream).
    const hugeStatus = `213-Status\r\n${' 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n'.repeat(256 * 1024)}213 End\r\n`;
    let transferData: UpstreamDataSocket | undefined;
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      let port: UpstreamDataPort | undefined;
      await connection.serve(async (verb) => {
        if (verb === 'PASV') {
          const answer = await answerPasv(connection);
          port = answer.port;
          return answer.reply;
        }
        if (verb === 'STAT') return hugeStatus;
        if (verb === 'ABOR') {
          const aborted = transferData !== undefined;
          transferData?.destroy();
          transferData = undefined;
          return aborted ? '426 Transfer aborted\r\n226 Abort successful\r\n' : '225 ABOR command successful\r\n';
        }
        if (verb !== 'RETR' || port === undefined) return undefined;
        const data = await port.accept();
        connection.write('150 Opening BINARY mode data connection\r\n');
        if (transferData === undefined && connection.verbs().filter((seen) => seen === 'RETR').length === 1) {
          // The first RETR never ends by itself: only the ABOR stops it.
          transferData = data;
          data.socket.write(FIRST);
          return '';
        }
        await data.send(SMALL, { end: true });
        await data.hungUp;
        return '226 Transfer complete\r\n';
      });
    });
    const { daemon, messages } = await startLoggingProxy(upstream.address);
    const endpoint = daemon.addresses[0];
    if (endpoint === undefined) throw new Error('no listener');
    const client = await openLoggedIn(endpoint);
    const data = await client.connectData(await client.pasv());
    client.send('RETR big.bin');
    expect((await client.readReply()).code).toBe(150);
    client.socket.pause();
    client.send('STAT');
    const session = await upstream.nextSession();
    const paused = 'client not reading its replies: reading paused';
    await waitUntil(() => messages.includes(paused), 5000, () => `ftpmasq has not paused: ${messages.slice(-5).join(' | ')}`);
    client.writeRaw('ABOR\r\n');
    await waitUntil(() => session.verbs().includes('ABOR'), 5000, () => `the upstream got ${JSON.stringify(session.verbs())}`);
    client.socket.resume();
    const [status, transfer, abort] = await client.readReplies(3, 10_000);
    expect(status?.code).toBe(213);
    expect(status?.raw.length).toBe(Buffer.byteLength(hugeStatus));
    expect(transfer?.code).toBe(426);
    expect(abort?.code).toBe(226);
    await withTimeout(data.closed, 5000, () => 'the aborted data connection is still open');
    expect((await client.command('NOOP')).code).toBe(200);
    const next = await client.retrieve('small.bin');
    expect(next.final.code).toBe(226);
    expect(sha256(next.data)).toBe(sha256(SMALL));
    expect(daemon.sessionCount()).toBe(1);
  });

  it(`pipelined commands past the bound, then ABOR: the ABOR reaches the server at once; ftpmasq reads at most ${READ_AHEAD_BYTES} bytes ahead`, async () => {
    const big = randomBytes(32 * 1024 * 1024);
    const { address, legacy } = await legacyServer({ files: new Map([['big.bin', big], ['small.bin', SMALL]]) });
    const { endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const data = await client.connectData(await client.pasv());
    // The client reads no data: the server blocks writing, and answers nothing until the ABOR
    // closes the relay; 300 NOOPs behind the RETR pass the bound of 256 commands in flight.
    data.socket.pause();
    client.send('RETR big.bin');
    expect((await client.readReply()).code).toBe(150);
    client.writeRaw('NOOP\r\n'.repeat(300));
    client.writeRaw('ABOR\r\n');
    const replies = await client.readReplies(2, 5000);
    expect(replies.map((reply) => reply.code)).toEqual([426, 200]);
    data.socket.resume();
    const rest = await client.readReplies(300, 10_000);
    // The ABOR went upstream ahead of the NOOPs ftpmasq had not forwarded yet: 226 comes among them.
    expect(rest.filter((reply) => reply.code === 226)).toHaveLength(1);
    expect(rest.filter((reply) => reply.code === 200)).toHaveLength(299);
    expect((await client.command('NOOP')).code).toBe(200);
    const next = await client.retrieve('small.bin');
    expect(sha256(next.data)).toBe(sha256(SMALL));
    expect(legacy.connectionCount).toBe(1);
  });
});
