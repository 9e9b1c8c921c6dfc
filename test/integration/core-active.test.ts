/**
 * Active mode (PORT, EPRT) and the EPSV options: ftpmasq checks the client's PORT/EPRT target
 * (its own address, a port >= 1024), asks the upstream for a passive port and connects out to
 * the client itself. EPSV ALL locks passive; --epsv translate answers EPSV from a PASV upstream;
 * --epsv disable refuses EPSV and hides it from FEAT.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createProxyHarness, countRefusals } from '../helpers/proxy-harness.js';
import { commandLine, delay, port229, sha256, waitUntil } from '../helpers/raw-ftp-client.js';
import type { Script } from '../helpers/scripted-upstream.js';

// Below the ephemeral range (32768-60999); one hundred per integration file: 23600-23699.
const PASSIVE_LOW = 23600;
const PASSIVE_HIGH = 23698;
/** The last port of this file's block, in no range: nothing ever listens there. */
const DEAD_PORT = 23699;

const FILE = randomBytes(1024 * 1024);

const { startProxy, scripted, legacyServer, openLoggedIn } = createProxyHarness({
  passivePorts: `${PASSIVE_LOW}-${PASSIVE_HIGH}`,
  legacy: { files: new Map([['file.bin', FILE]]) },
});

describe('PORT and EPRT', () => {
  it.each(['port', 'eprt'] as const)('%s with the client\'s own address: 200, and RETR arrives on its listener intact', async (mode) => {
    const { legacy, address } = await legacyServer();
    const { endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const result = await client.retrieve('file.bin', { mode });
    expect(result.setup.text).toBe(`200 ${mode.toUpperCase()} command successful.\r\n`);
    expect(sha256(result.data)).toBe(sha256(FILE));
    expect(result.final.code).toBe(226);
    // The upstream was asked for a passive port, never given the client's PORT.
    expect(legacy.pasvReplies).toHaveLength(1);
  });

  it('uploads through EPRT: the upstream stores every byte', async () => {
    const { legacy, address } = await legacyServer();
    const { endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const content = randomBytes(512 * 1024);
    const result = await client.store('active-up.bin', content, { mode: 'eprt' });
    expect(result.final.code).toBe(226);
    expect(sha256(legacy.files.get('active-up.bin') ?? Buffer.alloc(0))).toBe(sha256(content));
  });

  it('connects to the client from the address the client connected to', async () => {
    const { address } = await legacyServer();
    const { endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const listener = await client.listenActive();
    await client.expectReplyTo(`PORT ${listener.portArgument}`, 200);
    client.send('RETR file.bin');
    const data = await listener.nextConnection();
    expect(data.socket.remoteAddress).toBe('127.0.0.1');
    await client.expectReply(150);
    expect(sha256(await data.ended)).toBe(sha256(FILE));
    await client.expectReply(226);
  });

  it.each([
    { verb: 'PORT', argument: (host: string, port: number) => `${host.split('.').join(',')},${port >> 8},${port & 0xff}` },
    { verb: 'EPRT', argument: (host: string, port: number) => `|1|${host}|${port}|` },
  ])('$verb naming a foreign host gets 500 and nothing connects to it', async ({ verb, argument }) => {
    const { daemon, endpoint } = await startProxy((await legacyServer()).address);
    const client = await openLoggedIn(endpoint);
    const foreign = await client.listenActive('127.0.0.2');
    const reply = await client.command(`${verb} ${argument(foreign.host, foreign.port)}`);
    expect(reply.code).toBe(500);
    expect(await countRefusals(daemon, 'bounce_foreign_host')).toBe(1);
    // A transfer command now has no data connection to use: the upstream refuses it.
    const retr = await client.command('RETR file.bin');
    expect(retr.code).toBe(425);
    await delay(200);
    expect(foreign.accepted).toHaveLength(0);
    expect((await client.command('NOOP')).code).toBe(200);
  });

  it.each([
    { verb: 'PORT', argument: '127,0,0,1,0,80' },
    { verb: 'EPRT', argument: '|1|127.0.0.1|80|' },
    { verb: 'PORT', argument: '127,0,0,1,3,255' }, // 1023
  ])('$verb $argument (a port below 1024) gets 504', async ({ verb, argument }) => {
    const { daemon, endpoint } = await startProxy((await legacyServer()).address);
    const client = await openLoggedIn(endpoint);
    const reply = await client.command(`${verb} ${argument}`);
    expect(reply.code).toBe(504);
    expect(await countRefusals(daemon, 'bounce_privileged_port')).toBe(1);
  });

  it('accepts port 1024, the lowest allowed', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve(async (verb) => {
        if (verb !== 'PASV') return undefined;
        const port = await connection.openDataPort();
        return `227 Entering Passive Mode (${port.tuple()})\r\n`;
      });
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    expect((await client.command('PORT 127,0,0,1,4,0')).code).toBe(200);
  });

  it('answers 502 to PORT and EPRT with --active disable, without asking the upstream', async () => {
    const { legacy, address } = await legacyServer();
    const { daemon, endpoint } = await startProxy(address, { active: 'disable' });
    const client = await openLoggedIn(endpoint);
    const listener = await client.listenActive();
    expect((await client.command(`PORT ${listener.portArgument}`)).code).toBe(502);
    expect((await client.command(`EPRT ${listener.eprtArgument}`)).code).toBe(502);
    expect(legacy.pasvReplies).toHaveLength(0);
    expect(await countRefusals(daemon, 'active_disabled')).toBe(2);
    // Passive mode still works.
    const result = await client.retrieve('file.bin');
    expect(sha256(result.data)).toBe(sha256(FILE));
  });

  it('answers 501 to a PORT argument that is not six numbers', async () => {
    const { endpoint } = await startProxy((await legacyServer()).address);
    const client = await openLoggedIn(endpoint);
    expect((await client.command('PORT 127,0,0,1,200')).code).toBe(501);
    expect((await client.command('EPRT |3|127.0.0.1|5000|')).code).toBe(501);
    expect((await client.command('NOOP')).code).toBe(200);
  });
});

describe('EPSV ALL', () => {
  function epsvAllUpstream(): Script {
    return async (connection) => {
      await connection.greetAndLogin();
      await connection.serve(async (verb, line) => {
        if (verb !== 'EPSV') return undefined;
        if (line.toString('latin1').trim().toUpperCase() === 'EPSV ALL') return '200 EPSV ALL ok\r\n';
        const port = await connection.openDataPort();
        return `229 Entering Extended Passive Mode (|||${port.port}|)\r\n`;
      });
    };
  }

  it('passthrough: after EPSV ALL, PASV, PORT and EPRT get 501 and never reach the upstream; EPSV still works', async () => {
    const upstream = await scripted(epsvAllUpstream());
    const { daemon, endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    expect((await client.command('EPSV ALL')).text).toBe('200 EPSV ALL ok\r\n');
    expect((await client.command('PASV')).code).toBe(501);
    expect((await client.command('PORT 127,0,0,1,100,100')).code).toBe(501);
    expect((await client.command('EPRT |1|127.0.0.1|25700|')).code).toBe(501);
    const epsv = await client.command('EPSV');
    expect(epsv.code).toBe(229);
    expect(port229(epsv)).toBeGreaterThanOrEqual(PASSIVE_LOW);
    expect(port229(epsv)).toBeLessThanOrEqual(PASSIVE_HIGH);
    const session = await upstream.nextSession();
    expect(session.verbs()).toEqual(['USER', 'PASS', 'EPSV', 'EPSV']);
    expect(await countRefusals(daemon, 'after_epsv_all')).toBe(3);
  });

  it('translate: EPSV ALL is answered by ftpmasq, then PASV gets 501', async () => {
    const upstream = await scripted(epsvAllUpstream());
    const { endpoint } = await startProxy(upstream.address, { epsv: 'translate' });
    const client = await openLoggedIn(endpoint);
    expect((await client.command('EPSV ALL')).code).toBe(200);
    expect((await client.command('PASV')).code).toBe(501);
    const session = await upstream.nextSession();
    expect(session.verbs()).toEqual(['USER', 'PASS']);
  });
});

describe('--epsv', () => {
  it('translate: EPSV gets a 229 with ftpmasq\'s port and the upstream receives PASV, not EPSV', async () => {
    const { legacy, address } = await legacyServer();
    const { endpoint } = await startProxy(address, { epsv: 'translate' });
    const client = await openLoggedIn(endpoint);
    const result = await client.retrieve('file.bin', { mode: 'epsv' });
    expect(result.setup.text).toMatch(/^229 Entering Extended Passive Mode \(\|\|\|\d+\|\)\r\n$/);
    const port = port229(result.setup);
    expect(port).toBeGreaterThanOrEqual(PASSIVE_LOW);
    expect(port).toBeLessThanOrEqual(PASSIVE_HIGH);
    expect(sha256(result.data)).toBe(sha256(FILE));
    // LegacyFtpServer records each PASV it answers (EPSV would not be recorded).
    expect(legacy.pasvReplies).toHaveLength(1);
  });

  it('translate: the upstream sees PASV on the wire', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve(async (verb) => {
        if (verb !== 'PASV') return undefined;
        const port = await connection.openDataPort();
        return `227 Entering Passive Mode (${port.tuple()}).\r\n`;
      });
    });
    const { endpoint } = await startProxy(upstream.address, { epsv: 'translate' });
    const client = await openLoggedIn(endpoint);
    expect((await client.command('EPSV')).code).toBe(229);
    expect((await client.command('EPSV 2')).code).toBe(522);
    const session = await upstream.nextSession();
    await waitUntil(() => session.commands.length >= 3, 1000, () => 'no PASV upstream');
    expect(session.commands.at(-1)?.toString('latin1')).toBe('PASV\r\n');
    expect(session.verbs()).not.toContain('EPSV');
  });

  it('disable: EPSV gets 502 and FEAT no longer lists EPSV', async () => {
    const { legacy, address } = await legacyServer();
    const { daemon, endpoint } = await startProxy(address, { epsv: 'disable' });
    const client = await openLoggedIn(endpoint);
    expect((await client.command('EPSV')).code).toBe(502);
    expect((await client.command('EPSV ALL')).code).toBe(502);
    expect(await countRefusals(daemon, 'epsv_disabled')).toBe(2);
    const feat = await client.command('FEAT');
    expect(feat.text).toBe('211-Features:\r\n EPRT\r\n MDTM\r\n MLST type*;size*;modify*;\r\n SIZE\r\n UTF8\r\n211 End\r\n');
    expect(legacy.pasvReplies).toHaveLength(0);
    // PASV is still there.
    expect((await client.command('PASV')).code).toBe(227);
  });
});

describe('pipelined active mode', () => {
  /**
   * Regression test (bug fixed in 64160c0): the active relay used to start only if `dataSetup`
   * was already 'active' when the transfer command was read. With PORT and RETR in one write,
   * RETR was read before the upstream had answered the PASV ftpmasq sent for the PORT, so it went
   * upstream with no relay started; the upstream waited on its passive port for a data
   * connection that never came, and the client never got its 150. Expected: 200, 150, the data,
   * 226, as when the two commands are sent one at a time.
   */
  it('PORT and RETR in one write transfer the file', async () => {
    const { address } = await legacyServer();
    const { endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const listener = await client.listenActive();
    client.send(`PORT ${listener.portArgument}`, 'RETR file.bin');
    expect((await client.readReply()).code).toBe(200);
    const data = await listener.nextConnection(1000);
    expect((await client.readReply(1000)).code).toBe(150);
    expect(sha256(await data.ended)).toBe(sha256(FILE));
    expect((await client.readReply()).code).toBe(226);
  });
});

describe('an active target that cannot be reached', () => {
  /**
   * Regression test (bug fixed in 64160c0): when ftpmasq could not connect to the client's PORT
   * address, it dropped the upstream data connection but let the upstream's final reply through.
   * An upstream that had already written the file into the (closed) data socket answered 226, so
   * the client was told a transfer succeeded whose data connection never existed (and a STOR
   * truncated the file). Expected: 425 (RFC 959: "Can't open data connection").
   */
  it('does not report success for a transfer whose data connection to the client failed', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.expectCommand('PASV');
      const port = await connection.openDataPort();
      connection.write(`227 Entering Passive Mode (${port.tuple()})\r\n`);
      await connection.expectCommand('RETR');
      const data = await port.accept();
      connection.write('150 Opening data connection\r\n');
      // A small file fits in the socket buffer: the server cannot tell the peer is gone.
      await data.send(Buffer.from('twelve bytes'), { end: true });
      connection.write('226 Transfer complete\r\n');
      await connection.serve();
    });
    const { endpoint } = await startProxy(upstream.address, { upstreamConnectTimeout: '1s' });
    const client = await openLoggedIn(endpoint);
    // Was the port of a listener the test had just closed: an ephemeral port, which another
    // file's listener could take before ftpmasq dialled it (then ftpmasq reached "the client", the
    // RETR went upstream and the 226 came through, under load). A port of this file's block that
    // no range includes and no other file may use stays refused.
    const port = DEAD_PORT;
    await client.expectReplyTo(commandLine('PORT', `127,0,0,1,${port >> 8},${port & 0xff}`), 200);
    client.send('RETR small.txt');
    const replies = [await client.readReply()];
    if (replies[0]?.code === 150) replies.push(await client.readReply());
    expect(replies.map((reply) => reply.code)).not.toContain(226);
    expect(replies.at(-1)?.code).toBe(425);
  });
});
