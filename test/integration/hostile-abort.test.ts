/**
 * ABOR works through ftpmasq (issue 11, item 3). Before, ABOR was forwarded like any command
 * while ftpmasq went on holding the transfer's data for a client that had stopped reading: the
 * server, blocked writing into that relay, never read the ABOR, and the client got no reply. And
 * Python ftplib's abort(), which sends ABOR as urgent data, reached ftpmasq as `ABOR\r` (the LF
 * is the urgent byte, which a socket without SO_OOBINLINE never hands over), a line that never
 * ended.
 *
 * Node can neither send nor receive TCP urgent data, so these tests send what ftpmasq's socket
 * reads when a client sends it: the inline bytes, and `ABOR\r` for ftplib.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { withTimeout } from '../helpers/raw-ftp-client.js';

const { startProxy, legacyServer, openLoggedIn } = createProxyHarness({ passivePorts: '25200-25299' });

const BIG = randomBytes(32 * 1024 * 1024);
const SMALL = randomBytes(100_000);

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const FORMS: { title: string; bytes: Buffer }[] = [
  { title: 'a plain ABOR', bytes: Buffer.from('ABOR\r\n') },
  { title: 'ABOR behind Telnet IP and Synch, inline (IAC IP IAC DM ABOR)', bytes: Buffer.from([0xff, 0xf4, 0xff, 0xf2, ...Buffer.from('ABOR\r\n')]) },
  { title: 'the Synch with its urgent IAC lost (IAC IP DM ABOR)', bytes: Buffer.from([0xff, 0xf4, 0xf2, ...Buffer.from('ABOR\r\n')]) },
  { title: "ftplib's abort(): ABOR\\r\\n sent urgent, read as ABOR\\r", bytes: Buffer.from('ABOR\r') },
];

describe('ABOR during a download the client has stopped reading', () => {
  it.each(FORMS)('$title: 426 then 226 in order, and the session goes on', async ({ bytes }) => {
    const { address, legacy } = await legacyServer({ files: new Map([['big.bin', BIG], ['small.bin', SMALL]]) });
    const { endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const target = await client.pasv();
    const data = await client.connectData(target);
    // The client reads nothing: the relay fills, and the server blocks writing 32 MiB.
    data.socket.pause();
    client.send('RETR big.bin');
    expect((await client.readReply()).code).toBe(150);
    client.writeRaw(bytes);
    const [transfer, abort] = await client.readReplies(2, 5000);
    expect(transfer?.code).toBe(426);
    expect(abort?.code).toBe(226);
    data.socket.resume();
    await withTimeout(data.closed, 5000, () => 'the aborted data connection is still open');
    // The LF of an ABOR\r that comes after all is not a command of its own.
    if (bytes.at(-1) === 0x0d) client.writeRaw('\n');
    expect((await client.command('NOOP')).code).toBe(200);
    const next = await client.retrieve('small.bin');
    expect(next.final.code).toBe(226);
    expect(sha256(next.data)).toBe(sha256(SMALL));
    expect(legacy.connectionCount).toBe(1);
  });

  it('ABOR with no transfer running: the server answers 225 and the session goes on', async () => {
    const { address } = await legacyServer({ files: new Map([['small.bin', SMALL]]) });
    const { endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    expect((await client.command('ABOR')).code).toBe(225);
    const next = await client.retrieve('small.bin');
    expect(sha256(next.data)).toBe(sha256(SMALL));
  });
});
