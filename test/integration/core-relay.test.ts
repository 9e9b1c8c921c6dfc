/**
 * Relay mode end to end on loopback: a client that trusts the 227 address (as curl before 7.74
 * does) works through ftpmasq against LegacyFtpServer, whose 227 names 10.0.11.251.
 * Transfers are checked by SHA-256 on both ends; replies ftpmasq does not rewrite must arrive
 * byte-identical to what the upstream sent.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { LegacyFtpServer } from '../../src/demo/legacy-ftp-server.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { commandLine, port229, sha256, trust227, type Endpoint } from '../helpers/raw-ftp-client.js';

// Below the kernel's ephemeral range (32768-60999), so no outgoing socket of a parallel test
// file can hold one of these ports; each integration file has its own hundred.
const PASSIVE_LOW = 23100;
const PASSIVE_HIGH = 23199;

const SAMPLE = Buffer.from('Hello, FTP!\n');
const BIG = randomBytes(5 * 1024 * 1024);
const UTF8_NAME = Buffer.from('進捗どうですか.jpg', 'utf8');
const UTF8_CONTENT = randomBytes(4096);
/** "進捗.txt" in Shift_JIS: not valid UTF-8, so any decode/re-encode would change it. */
const SJIS_NAME = Buffer.from([0x90, 0x69, 0x92, 0xbb, 0x2e, 0x74, 0x78, 0x74]);

// One upstream and one proxy for the whole file, started before the first test.
const { startProxy, legacyServer, open } = createProxyHarness({
  passivePorts: `${PASSIVE_LOW}-${PASSIVE_HIGH}`,
  lifetime: 'file',
});

let legacy: LegacyFtpServer;
let proxy: Endpoint;
let direct: Endpoint;

beforeAll(async () => {
  const upstream = await legacyServer({
    files: new Map<string | Buffer, Buffer>([
      ['sample.txt', SAMPLE],
      ['big.bin', BIG],
      [UTF8_NAME, UTF8_CONTENT],
    ]),
  });
  legacy = upstream.legacy;
  direct = upstream.endpoint;
  proxy = (await startProxy(upstream.address)).endpoint;
});

describe('relay mode through ftpmasq to a server that advertises 10.0.11.251', () => {
  it('answers PASV with 127.0.0.1 and a port of its own range, never the private address', async () => {
    const client = await open(proxy);
    await client.login();
    const target = await client.pasv();
    expect(target.reply.text).toMatch(/^227 Entering Passive Mode \(127,0,0,1,\d{1,3},\d{1,3}\)\.\r\n$/);
    expect(target.host).toBe('127.0.0.1');
    expect(target.port).toBeGreaterThanOrEqual(PASSIVE_LOW);
    expect(target.port).toBeLessThanOrEqual(PASSIVE_HIGH);
    // The upstream did name its private address; ftpmasq covered for it.
    expect(legacy.pasvReplies.at(-1)).toContain('(10,0,11,251,');
    expect(client.receivedBytes().toString('latin1')).not.toContain('10,0,11,251');
  });

  it('downloads the 12-byte sample and a 5 MiB random file intact, trusting the 227 address', async () => {
    const client = await open(proxy);
    await client.login();
    client.send('TYPE I');
    await client.expectReply(200);

    const small = await client.retrieve('sample.txt');
    expect(small.data.length).toBe(12);
    expect(sha256(small.data)).toBe(sha256(SAMPLE));
    expect(small.final.code).toBe(226);

    const big = await client.retrieve('big.bin');
    expect(big.data.length).toBe(BIG.length);
    expect(sha256(big.data)).toBe(sha256(BIG));
    expect(big.final.code).toBe(226);
    // Whether the client *reads* the data's EOF before the 226 is not asserted here: with
    // megabytes in flight on the data connection, a 226 written after the last byte was handed to
    // the kernel can still be read first. core-data pins the gate with a server that says 226 early.
  });

  it('uploads a 3 MiB random file: the upstream stores every byte', async () => {
    const content = randomBytes(3 * 1024 * 1024);
    const client = await open(proxy);
    await client.login();
    const result = await client.store('upload-3m.bin', content);
    expect(result.final.code).toBe(226);
    const stored = legacy.files.get('upload-3m.bin');
    expect(stored?.length).toBe(content.length);
    expect(sha256(stored ?? Buffer.alloc(0))).toBe(sha256(content));
  });

  it('relays LIST, NLST and MLSD byte-identical to the listings the upstream sends directly', async () => {
    const viaProxy = await open(proxy);
    const straight = await open(direct);
    await viaProxy.login();
    await straight.login();
    for (const verb of ['LIST', 'NLST', 'MLSD'] as const) {
      const relayed = await viaProxy.list(verb);
      // Direct to the upstream: its 227 names 10.0.11.251, so dial its port on its real address.
      const reply = await straight.command('PASV');
      const port = trust227(reply).port;
      const data = await straight.connectData({ host: direct.host, port });
      straight.send(`${verb}`);
      await straight.expectReply(150);
      const expected = await data.ended;
      await straight.expectReply(226);

      expect(relayed.final.code).toBe(226);
      expect(relayed.data.equals(expected)).toBe(true);
    }
    const nlst = await viaProxy.list('NLST');
    expect(nlst.data.toString('latin1').split('\r\n')).toContain('sample.txt');
  });

  it('round-trips a UTF-8 file name byte for byte', async () => {
    const client = await open(proxy);
    await client.login();
    const result = await client.retrieve(UTF8_NAME);
    expect(sha256(result.data)).toBe(sha256(UTF8_CONTENT));
    // The 150 names the file: its bytes came back unchanged.
    expect(result.preliminary.raw.includes(UTF8_NAME)).toBe(true);
    const nlst = await client.list('NLST');
    expect(nlst.data.includes(Buffer.concat([UTF8_NAME, Buffer.from('\r\n')]))).toBe(true);
  });

  it('round-trips a Shift_JIS file name byte for byte (upload, listing, download)', async () => {
    const content = randomBytes(2048);
    const client = await open(proxy);
    await client.login();
    const stored = await client.store(SJIS_NAME, content);
    expect(stored.final.code).toBe(226);
    // LegacyFtpServer keys files by the latin1 string of the exact bytes it received.
    expect(legacy.files.get(SJIS_NAME.toString('latin1'))?.equals(content)).toBe(true);

    const nlst = await client.list('NLST');
    expect(nlst.data.includes(Buffer.concat([SJIS_NAME, Buffer.from('\r\n')]))).toBe(true);

    const back = await client.retrieve(SJIS_NAME);
    expect(sha256(back.data)).toBe(sha256(content));
    expect(back.preliminary.raw.includes(SJIS_NAME)).toBe(true);
    const size = await client.command(commandLine('SIZE', SJIS_NAME));
    expect(size.text).toBe(`213 ${content.length}\r\n`);
  });

  it('passes EPSV through and answers 229 with its own relayed port', async () => {
    const client = await open(proxy);
    await client.login();
    const result = await client.retrieve('sample.txt', { mode: 'epsv' });
    expect(result.setup.text).toMatch(/^229 Entering Extended Passive Mode \(\|\|\|\d+\|\)\r\n$/);
    const port = port229(result.setup);
    expect(port).toBeGreaterThanOrEqual(PASSIVE_LOW);
    expect(port).toBeLessThanOrEqual(PASSIVE_HIGH);
    expect(result.data.equals(SAMPLE)).toBe(true);
  });

  it('passes the greeting and every reply it does not rewrite on byte-identical', async () => {
    const dialogue: Buffer[] = [
      commandLine('USER', 'scott'),
      commandLine('PASS', 'tiger'),
      commandLine('SYST'),
      commandLine('TYPE', 'I'),
      commandLine('PWD'),
      commandLine('CWD', '/pub'),
      commandLine('SIZE', 'sample.txt'),
      commandLine('SIZE', 'missing.txt'),
      commandLine('SIZE', UTF8_NAME),
      commandLine('OPTS', 'UTF8 ON'),
      commandLine('NOOP'),
      commandLine('XYZZY', 'plugh'),
      commandLine('QUIT'),
    ];
    const transcripts: Buffer[] = [];
    for (const endpoint of [direct, proxy]) {
      const client = await open(endpoint);
      for (const line of dialogue) {
        client.send(line);
        await client.readReply();
      }
      await client.waitForClose();
      transcripts.push(client.receivedBytes());
    }
    const [straight, relayed] = transcripts;
    expect(relayed?.toString('latin1')).toBe(straight?.toString('latin1'));
    expect(relayed?.equals(straight ?? Buffer.alloc(0))).toBe(true);
    expect(relayed?.subarray(0, 4).toString('latin1')).toBe('220 ');
  });

  it('answers pipelined USER, PASS, TYPE, PASV (one write) in order, and later commands after the 227', async () => {
    const client = await open(proxy);
    client.send('USER scott', 'PASS tiger', 'TYPE I', 'PASV', 'NOOP', 'PWD');
    const replies = await client.readReplies(6);
    expect(replies.map((reply) => reply.code)).toEqual([331, 230, 200, 227, 200, 257]);
    const pasv = replies[3];
    if (pasv === undefined) throw new Error('no 227');
    expect(pasv.text).toMatch(/^227 Entering Passive Mode \(127,0,0,1,\d{1,3},\d{1,3}\)\.\r\n$/);
    // And the pipelined 227 is usable.
    const data = await client.connectData(trust227(pasv));
    client.send('RETR sample.txt');
    await client.expectReply(150);
    expect((await data.ended).equals(SAMPLE)).toBe(true);
    await client.expectReply(226);
  });
});
