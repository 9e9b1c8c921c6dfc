/**
 * FTPS on the client's control connection (RFC 4217) in front of a plain server: AUTH TLS, the
 * STARTTLS injection class, ALPN (ALPACA), PBSZ/PROT/CCC, FEAT, and `--client-tls required`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import type { UpstreamConnection } from '../helpers/scripted-upstream.js';
import { FtpsTestClient, makeCertificate, type TestCertificate } from './support/ftps-fixtures.js';

const { legacyServer, startProxy, scripted } = createProxyHarness({ passivePorts: '24000-24049' });

let certificate: TestCertificate;
beforeAll(() => {
  certificate = makeCertificate();
});
afterAll(() => certificate.remove());

async function proxyWithTls(extra: Record<string, string> = {}) {
  const upstream = await legacyServer();
  const proxy = await startProxy(upstream.address, { tlsCert: certificate.certFile, tlsKey: certificate.keyFile, ...extra });
  return { upstream, proxy };
}

async function connect(endpoint: { host: string; port: number }): Promise<FtpsTestClient> {
  const client = await FtpsTestClient.connect(endpoint);
  expect((await client.reply()).code).toBe(220);
  return client;
}

describe('AUTH TLS', () => {
  it('234, then a TLS 1.3 handshake offering ALPN ftp; login and commands go on over TLS', async () => {
    const { proxy } = await proxyWithTls();
    const client = await connect(proxy.endpoint);
    const secure = await client.startTls({ ALPNProtocols: ['ftp'] });
    expect(secure.getProtocol()).toBe('TLSv1.3');
    expect(secure.alpnProtocol).toBe('ftp');
    expect((await client.command('USER scott')).code).toBe(331);
    expect((await client.command('PASS tiger')).code).toBe(230);
    expect(await client.command('PBSZ 0')).toEqual({ code: 200, text: '200 PBSZ=0\r\n' });
    expect((await client.command('PROT P')).code).toBe(200);
    expect((await client.command('CCC')).text).toBe('533 CCC refused: the control connection stays encrypted.\r\n');
    expect((await client.command('AUTH TLS')).code).toBe(503);
    const handshakes = (await proxy.daemon.metrics.tlsHandshakes.get()).values;
    expect(handshakes).toEqual(expect.arrayContaining([expect.objectContaining({ labels: { site: 'default', side: 'client_control', result: 'success' }, value: 1 })]));
    const protocols = (await proxy.daemon.metrics.tlsProtocols.get()).values;
    expect(protocols).toEqual(expect.arrayContaining([expect.objectContaining({ labels: { site: 'default', side: 'client_control', protocol: 'tls1_3' }, value: 1 })]));
    client.close();
  });

  it('AUTH SSL is an alias; a client without ALPN is served', async () => {
    const { proxy } = await proxyWithTls();
    const client = await connect(proxy.endpoint);
    expect((await client.command('AUTH SSL')).code).toBe(234);
    const secure = await client.handshake();
    expect(secure.alpnProtocol).toBe(false);
    expect((await client.command('NOOP')).code).toBe(200);
    client.close();
  });

  it('STARTTLS injection: a USER pipelined behind AUTH TLS in one segment is discarded, never executed', async () => {
    const connections: UpstreamConnection[] = [];
    const upstream = await scripted(async (connection) => {
      connections.push(connection);
      connection.write('220 scripted upstream ready\r\n');
      await connection.serve((verb) => (verb === 'NOOP' ? '200 NOOP ok\r\n' : '331 Password required\r\n'));
    });
    const proxy = await startProxy(upstream.address, { tlsCert: certificate.certFile, tlsKey: certificate.keyFile });
    const client = await connect(proxy.endpoint);
    client.send('AUTH TLS\r\nUSER evil\r\n');
    expect((await client.reply()).code).toBe(234);
    await client.handshake();
    expect((await client.command('NOOP')).code).toBe(200);
    expect(connections.flatMap((connection) => connection.commands.map((line) => line.toString('latin1')))).toEqual(['NOOP\r\n']);
    const metrics = await proxy.daemon.metrics.refusals.get();
    expect(metrics.values).toEqual(expect.arrayContaining([expect.objectContaining({ labels: { site: 'default', reason: 'tls_pipelined' }, value: 1 })]));
    client.close();
  });

  it('AUTH TLS behind a command still awaiting its reply: the 234 waits its turn, then the upgrade; the pipelined USER is never executed', async () => {
    const connections: UpstreamConnection[] = [];
    let answerNoop: () => void = () => undefined;
    const noopHeld = new Promise<void>((resolve) => (answerNoop = resolve));
    const upstream = await scripted(async (connection) => {
      connections.push(connection);
      connection.write('220 scripted upstream ready\r\n');
      await connection.serve(async (verb) => {
        if (verb !== 'NOOP') return '331 Password required\r\n';
        if (connection.commands.length === 1) await noopHeld;
        return '200 NOOP ok\r\n';
      });
    });
    const proxy = await startProxy(upstream.address, { tlsCert: certificate.certFile, tlsKey: certificate.keyFile });
    const client = await connect(proxy.endpoint);
    client.send('NOOP\r\nAUTH TLS\r\nUSER evil\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    answerNoop();
    expect((await client.reply()).code).toBe(200);
    expect((await client.reply()).code).toBe(234);
    await client.handshake();
    expect((await client.command('NOOP')).code).toBe(200);
    expect(connections.flatMap((connection) => connection.commands.map((line) => line.toString('latin1')))).toEqual(['NOOP\r\n', 'NOOP\r\n']);
    client.close();
  });

  it('ALPACA: a client that offers only http/1.1 gets no session (the handshake fails, the connection closes)', async () => {
    const { proxy } = await proxyWithTls();
    const client = await connect(proxy.endpoint);
    expect((await client.command('AUTH TLS')).code).toBe(234);
    await expect(client.handshake({ ALPNProtocols: ['http/1.1'] })).rejects.toThrow(/no.application.protocol|closed|ALPN/i);
    expect(await client.waitClosed()).toBe(true);
    const handshakes = (await proxy.daemon.metrics.tlsHandshakes.get()).values;
    expect(handshakes).toEqual(expect.arrayContaining([expect.objectContaining({ labels: { site: 'default', side: 'client_control', result: 'failure' }, value: 1 })]));
  });

  it('FEAT lists AUTH TLS, PBSZ and PROT', async () => {
    const { proxy } = await proxyWithTls();
    const client = await connect(proxy.endpoint);
    const feat = await client.command('FEAT');
    expect(feat.text).toMatch(/^211-/);
    expect(feat.text).toContain(' AUTH TLS\r\n PBSZ\r\n PROT\r\n211 ');
    client.close();
  });

  it('PBSZ and PROT before AUTH TLS get 503; PROT before PBSZ too', async () => {
    const { proxy } = await proxyWithTls();
    const client = await connect(proxy.endpoint);
    expect((await client.command('PBSZ 0')).code).toBe(503);
    expect((await client.command('PROT P')).code).toBe(503);
    await client.startTls();
    expect((await client.command('PROT P')).text).toBe('503 PROT needs PBSZ first.\r\n');
    client.close();
  });
});

describe('--client-tls required', () => {
  it('a plain USER and PASS get 530 and never reach the server; after AUTH TLS the login works', async () => {
    const connections: UpstreamConnection[] = [];
    const upstream = await scripted(async (connection) => {
      connections.push(connection);
      connection.write('220 scripted upstream ready\r\n');
      await connection.serve((verb) => (verb === 'USER' ? '331 Password required\r\n' : verb === 'PASS' ? '230 logged in\r\n' : '200 ok\r\n'));
    });
    const proxy = await startProxy(upstream.address, { tlsCert: certificate.certFile, tlsKey: certificate.keyFile, clientTls: 'required' });
    const client = await connect(proxy.endpoint);
    expect((await client.command('USER scott')).text).toBe('530 TLS required: send AUTH TLS before USER.\r\n');
    expect((await client.command('PASS tiger')).code).toBe(530);
    expect((await client.command('NOOP')).code).toBe(200);
    expect(connections.flatMap((connection) => connection.commands.map((line) => line.toString('latin1')))).toEqual(['NOOP\r\n']);
    await client.startTls();
    expect((await client.command('USER scott')).code).toBe(331);
    expect((await client.command('PASS tiger')).code).toBe(230);
    client.close();
  });
});

describe('--allow-clear-data false', () => {
  it('PROT C is refused with 534, PROT P accepted', async () => {
    const { proxy } = await proxyWithTls({ allowClearData: 'false' });
    const client = await connect(proxy.endpoint);
    await client.startTls();
    await client.command('PBSZ 0');
    expect((await client.command('PROT C')).code).toBe(534);
    expect((await client.command('PROT P')).code).toBe(200);
    client.close();
  });
});
