/**
 * A client that half-closes its control connection loses nothing (issue 11, item 4). Before, the
 * session closed 2 s after the client's EOF whatever was in flight: a `PORT`, `RETR`, `QUIT`
 * script that then shut its writing side got no `226` and no `221` from a server that answers
 * after a moment (ProFTPD lingers on the data connection first), and a passive download whose
 * client half-closed after `RETR` was cut with a clean-looking EOF.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { delay, withTimeout } from '../helpers/raw-ftp-client.js';
import type { UpstreamDataPort } from '../helpers/scripted-upstream.js';

const { startProxy, scripted, legacyServer, openLoggedIn } = createProxyHarness({ passivePorts: '25100-25199' });

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('a client that half-closes after its commands', () => {
  it('PORT, RETR, QUIT then EOF: the data, 226 and 221 arrive, then the close (LegacyFtpServer)', async () => {
    const content = randomBytes(64 * 1024);
    const { address } = await legacyServer({ files: new Map([['sample.txt', content]]) });
    const { daemon, endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const active = await client.listenActive();
    client.send(`PORT ${active.portArgument}`, 'RETR sample.txt', 'QUIT');
    client.socket.end();
    const data = await active.nextConnection();
    const received = await withTimeout(data.ended, 10_000, () => 'no data EOF');
    expect(sha256(received)).toBe(sha256(content));
    const replies = await client.readReplies(4, 10_000);
    expect(replies.map((reply) => reply.code)).toEqual([200, 150, 226, 221]);
    await client.waitForClose();
    await withTimeout(
      (async () => {
        while (daemon.sessionCount() > 0) await delay(10);
      })(),
      5000,
      () => 'the session did not end',
    );
  });

  it('PORT, RETR, QUIT then EOF: a 226 that comes 2.5 s after the data still arrives, then 221 (scripted upstream)', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      let dataPort: UpstreamDataPort | undefined;
      await connection.serve(async (verb) => {
        if (verb === 'PASV') {
          dataPort = await connection.openDataPort();
          return `227 Entering Passive Mode (${dataPort.tuple()}).\r\n`;
        }
        if (verb !== 'RETR' || dataPort === undefined) return undefined;
        const data = await dataPort.accept();
        connection.write('150 Opening data connection\r\n');
        await data.send(Buffer.from('the file'), { end: true });
        // ProFTPD lingers on the closing data connection before it says 226.
        await delay(2500);
        return '226 Transfer complete\r\n';
      });
      // Half-open, as ProFTPD: the client's EOF ends the session after the commands before it.
    }, { allowHalfOpen: true });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const active = await client.listenActive();
    client.send(`PORT ${active.portArgument}`, 'RETR file', 'QUIT');
    client.socket.end();
    const data = await active.nextConnection();
    expect((await withTimeout(data.ended, 5000, () => 'no data EOF')).toString()).toBe('the file');
    const replies = await client.readReplies(4, 10_000);
    expect(replies.map((reply) => reply.code)).toEqual([200, 150, 226, 221]);
    await client.waitForClose();
  });

  it('a passive RETR of 8 MiB whose client half-closes right after RETR and reads slowly arrives whole, then 226', async () => {
    const content = randomBytes(8 * 1024 * 1024);
    const { address } = await legacyServer({ files: new Map([['big.bin', content]]) });
    const { endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const target = await client.pasv();
    const connection = await client.connectData(target);
    // Not reading for longer than the old 2 s close grace keeps the transfer running past it.
    connection.socket.pause();
    client.send('RETR big.bin');
    client.socket.end();
    expect((await client.readReply()).code).toBe(150);
    await delay(2500);
    connection.socket.resume();
    const received = await withTimeout(connection.ended, 10_000, () => 'no data EOF');
    expect(received.length).toBe(content.length);
    expect(sha256(received)).toBe(sha256(content));
    expect((await client.readReply(10_000)).code).toBe(226);
    await client.waitForClose(5000);
  });

  it('a half-closed client whose server never answers is still closed: by the reply timeout, with 421', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve((verb) => (verb === 'STAT' ? Buffer.alloc(0) : undefined));
    }, { allowHalfOpen: true });
    const { endpoint } = await startProxy(upstream.address, { replyTimeout: '500ms' });
    const client = await openLoggedIn(endpoint);
    client.send('STAT');
    client.socket.end();
    expect((await client.readReply(5000)).code).toBe(421);
    await client.waitForClose(5000);
  });
});
