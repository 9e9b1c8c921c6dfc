/**
 * Command and reply framing (hardening issue, reproduced against ProFTPD 1.3.8): ProFTPD ends a
 * verb at TAB, CR, VT and FF as well as at a space, and reads Telnet option negotiation before
 * it. ftpmasq used to end the verb only at a space, so `PORT\t127,0,0,1,0,22` went upstream as
 * an unknown verb, the server executed it as PORT and connected where the client said (the FTP
 * bounce attack through the proxy), and `AUTH\tTLS` slipped past the AUTH refusal. Now every such
 * line is read as the server reads it (and checked), or refused with 500; none reaches the server.
 *
 * And ProFTPD answers `IAC WILL 1` + `NOOP` with `IAC DONT 1` + `200 ...` on one line: a reply
 * ftpmasq once took for a stray line, pairing every later reply with the command before its own.
 */
import { describe, expect, it } from 'vitest';
import { createProxyHarness, countRefusals } from '../helpers/proxy-harness.js';
import { trust227 } from '../helpers/raw-ftp-client.js';
import type { Responder, ScriptedUpstream } from '../helpers/scripted-upstream.js';

const PASSIVE_LOW = 23000;
const PASSIVE_HIGH = 23099;

const { startProxy, scripted, openLoggedIn } = createProxyHarness({ passivePorts: `${PASSIVE_LOW}-${PASSIVE_HIGH}` });

function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

/** IAC WILL 1: a client offering Telnet ECHO, which ProFTPD answers IAC DONT 1 and removes. */
const IAC_WILL_1 = '\xff\xfb\x01';
const IAC_DONT_1 = '\xff\xfe\x01';

/**
 * Like ProFTPD, the upstream executes any PORT, EPRT or AUTH that reaches it, whatever ftpmasq
 * made of the line (200, 234); NOOP gets 200, anything else 502. Every byte is recorded.
 */
const likeProftpd: Responder = (_verb, line) => {
  const text = line.toString('latin1');
  if (/PORT|EPRT/i.test(text)) return '200 PORT command successful\r\n';
  if (/AUTH/i.test(text)) return '234 AUTH TLS successful\r\n';
  return undefined;
};

async function recordingUpstream(responder: Responder = likeProftpd): Promise<ScriptedUpstream> {
  return scripted(async (connection) => {
    await connection.greetAndLogin();
    await connection.serve(responder);
  });
}

/** Every byte the upstream received after logging in. */
function upstreamCommandsAfterLogin(upstream: ScriptedUpstream): string {
  const connection = upstream.connections.at(-1);
  if (connection === undefined) throw new Error('no upstream session');
  return Buffer.concat(connection.commands.slice(2)).toString('latin1');
}

describe('a command that the server reads differently from a plain split at the space', () => {
  it.each([
    { title: 'PORT and a TAB', line: 'PORT\t127,0,0,1,0,22\r\n', code: 504, refusal: 'bounce_privileged_port' as const },
    { title: 'PORT and a VT', line: 'PORT\v127,0,0,1,0,22\r\n', code: 504, refusal: 'bounce_privileged_port' as const },
    { title: 'PORT and an FF', line: 'PORT\f127,0,0,1,0,22\r\n', code: 504, refusal: 'bounce_privileged_port' as const },
    { title: 'EPRT and a TAB', line: 'EPRT\t|1|127.0.0.1|22|\r\n', code: 504, refusal: 'bounce_privileged_port' as const },
    { title: 'IAC WILL 1, then PORT', line: `${IAC_WILL_1}PORT 127,0,0,1,0,22\r\n`, code: 504, refusal: 'bounce_privileged_port' as const },
    { title: 'IAC IP inside PORT', line: 'PO\xff\xf4RT 127,0,0,1,0,22\r\n', code: 504, refusal: 'bounce_privileged_port' as const },
    { title: 'PORT and a TAB naming a foreign host', line: 'PORT\t127,0,0,2,4,1\r\n', code: 500, refusal: 'bounce_foreign_host' as const },
  ])('$title: the bounce checks apply ($code) and nothing reaches the upstream', async ({ line, code, refusal }) => {
    const upstream = await recordingUpstream();
    const { daemon, endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    client.writeRaw(line);
    expect((await client.readReply()).code).toBe(code);
    expect(await countRefusals(daemon, refusal)).toBe(1);
    // The session goes on, and the upstream never saw the PORT/EPRT (nor a PASV for it).
    expect((await client.command('NOOP')).code).toBe(200);
    expect(upstreamCommandsAfterLogin(upstream)).toBe('NOOP\r\n');
  });

  it.each([
    { title: 'PORT and a TAB', line: 'PORT\t127,0,0,1,4,1\r\n' },
    { title: 'EPRT and a TAB', line: 'EPRT\t|1|127.0.0.1|1025|\r\n' },
    { title: 'IAC WILL 1, then PORT', line: `${IAC_WILL_1}PORT 127,0,0,1,4,1\r\n` },
    { title: 'lower-case port and an FF', line: 'port\f127,0,0,1,4,1\n' },
  ])('with --active disable, $title gets 502 and nothing reaches the upstream', async ({ line }) => {
    const upstream = await recordingUpstream();
    const { daemon, endpoint } = await startProxy(upstream.address, { active: 'disable' });
    const client = await openLoggedIn(endpoint);
    client.writeRaw(line);
    expect((await client.readReply()).code).toBe(502);
    expect(await countRefusals(daemon, 'active_disabled')).toBe(1);
    expect((await client.command('NOOP')).code).toBe(200);
    expect(upstreamCommandsAfterLogin(upstream)).toBe('NOOP\r\n');
  });

  it.each([
    { title: 'AUTH and a TAB', line: 'AUTH\tTLS\r\n' },
    { title: 'AUTH and a VT', line: 'AUTH\vSSL\r\n' },
    { title: 'IAC DO 3, then auth', line: '\xff\xfd\x03auth TLS\r\n' },
  ])('$title gets 534 and never reaches the upstream', async ({ line }) => {
    const upstream = await recordingUpstream();
    const { daemon, endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    client.writeRaw(line);
    expect((await client.readReply()).code).toBe(534);
    expect(await countRefusals(daemon, 'auth_tls')).toBe(1);
    expect((await client.command('NOOP')).code).toBe(200);
    expect(upstreamCommandsAfterLogin(upstream)).toBe('NOOP\r\n');
  });

  it.each([
    { title: 'PORT and a CR (ProFTPD: PORT)', line: 'PORT\r127,0,0,1,0,22\r\n' },
    { title: 'a leading CR before PORT (ProFTPD skips it)', line: '\rPORT 127,0,0,1,0,22\r\n' },
    { title: 'a quoted PORT (ProFTPD reads "PORT" as PORT)', line: '"PORT" 127,0,0,1,0,22\r\n' },
    { title: 'AUTH and a NUL', line: 'AUTH\x00TLS\r\n' },
    { title: 'an empty line', line: '\r\n' },
    { title: 'a leading space', line: ' PORT 127,0,0,1,0,22\r\n' },
    { title: 'a line ending inside a Telnet negotiation', line: 'NOOP\xff\xfb\n' },
  ])('$title is refused with 500 and never reaches the upstream', async ({ line }) => {
    const upstream = await recordingUpstream();
    const { daemon, endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    client.writeRaw(line);
    expect((await client.readReply()).code).toBe(500);
    expect(await countRefusals(daemon, 'ambiguous_command')).toBe(1);
    expect((await client.command('NOOP')).code).toBe(200);
    expect(upstreamCommandsAfterLogin(upstream)).toBe('NOOP\r\n');
  });
});

describe('the bytes forwarded upstream', () => {
  it('a bare-LF line goes upstream ending in CRLF, otherwise byte for byte', async () => {
    const upstream = await recordingUpstream((verb) => (verb.startsWith('STOR') || verb.endsWith('NOOP') ? '200 ok\r\n' : undefined));
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    // ProFTPD ends a line only at CRLF: forwarded as it came, these would be one command to it.
    client.writeRaw(`NOOP\n${IAC_WILL_1}NOOP\nSITE CHMOD 644 \xe9\x80\xb2\x90\x69.txt\n`);
    expect((await client.readReplies(3)).map((reply) => reply.code)).toEqual([200, 200, 502]);
    expect(upstreamCommandsAfterLogin(upstream)).toBe(`NOOP\r\n${IAC_WILL_1}NOOP\r\nSITE CHMOD 644 \xe9\x80\xb2\x90\x69.txt\r\n`);
  });
});

describe('a reply that starts with Telnet commands', () => {
  it('IAC DONT 1 before the 200 to IAC WILL 1 + NOOP: the next 227 is still rewritten', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      const dataPort = await connection.openDataPort();
      await connection.serve((_verb, line) => {
        const text = line.toString('latin1');
        if (text === `${IAC_WILL_1}NOOP\r\n`) return `${IAC_DONT_1}200 NOOP command successful\r\n`;
        if (text === 'PASV\r\n') return `227 Entering Passive Mode (${dataPort.tuple('10.0.11.251')}).\r\n`;
        return undefined;
      });
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    client.writeRaw(`${IAC_WILL_1}NOOP\r\n`);
    const noop = await client.readReply();
    // The client offered the option: it gets the server's answer, as the server sent it.
    expect(noop.raw.toString('latin1')).toBe(`${IAC_DONT_1}200 NOOP command successful\r\n`);
    const pasv = await client.command('PASV');
    // Paired with NOOP's reply, as before the fix, the 227 went out with the server's address.
    expect(pasv.text).not.toContain('10,0,11,251');
    expect(pasv.code).toBe(227);
    const target = trust227(pasv);
    expect(target.host).toBe('127.0.0.1');
    expect(target.port).toBeGreaterThanOrEqual(PASSIVE_LOW);
    expect(target.port).toBeLessThanOrEqual(PASSIVE_HIGH);
    expect((await client.command('NOOP')).code).toBe(200);
    expect(noop.code).toBe(200);
  });

  it('IAC DONT 1 before a 227: the 227 is rewritten and keeps the prefix', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      const dataPort = await connection.openDataPort();
      await connection.serve((_verb, line) => {
        if (line.toString('latin1') === `${IAC_WILL_1}PASV\r\n`) return `${IAC_DONT_1}227 Entering Passive Mode (${dataPort.tuple('10.0.11.251')}).\r\n`;
        return undefined;
      });
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    client.writeRaw(bytes(`${IAC_WILL_1}PASV\r\n`));
    const pasv = await client.readReply();
    expect(pasv.text).not.toContain('10,0,11,251');
    expect(pasv.code).toBe(227);
    expect(pasv.raw.subarray(0, 3).toString('latin1')).toBe(IAC_DONT_1);
    expect(trust227(pasv).host).toBe('127.0.0.1');
    expect((await client.command('NOOP')).code).toBe(200);
  });
});
