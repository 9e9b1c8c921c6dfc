/**
 * Issue 12, TLS towards the upstream (--upstream-tls): ftpmasq is the FTPS client of a TLS-only
 * server on loopback that requires TLS session reuse on data connections. Explicit: ftpmasq sends
 * AUTH TLS, PBSZ 0 and PROT P before the client's login; implicit: TLS from the first byte. The
 * certificate is checked (CA, pinned SHA-256); a failed check gives the client 421 and the server
 * never sees a login. A plain client gets in only with allowPlainClients.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../src/daemon.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { FtpsUpstream, type FtpsUpstreamOptions } from './support/ftps-upstream.js';
import { FtpsTestClient, makeCertificate, type TestCertificate } from './support/ftps-fixtures.js';

const SMALL = Buffer.from('hello, ftp!\n');
const LARGE = randomBytes(2 * 1024 * 1024 + 5);
const { startProxy, connect, open, openLoggedIn, scripted } = createProxyHarness({ passivePorts: '29200-29249' });

let serverCert: TestCertificate;
let otherCa: TestCertificate;
let clientCert: TestCertificate;
const upstreams: FtpsUpstream[] = [];

beforeAll(() => {
  serverCert = makeCertificate('fmq-upstream');
  otherCa = makeCertificate('fmq-other-ca');
  clientCert = makeCertificate('fmq-client-side');
});
afterAll(() => {
  for (const certificate of [serverCert, otherCa, clientCert]) certificate.remove();
});
afterEach(async () => {
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.close()));
});

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function ftpsUpstream(options: Partial<FtpsUpstreamOptions> = {}): Promise<FtpsUpstream> {
  const upstream = await FtpsUpstream.start({
    mode: 'explicit',
    cert: readFileSync(serverCert.certFile, 'utf8'),
    key: readFileSync(serverCert.keyFile, 'utf8'),
    files: new Map([['small.txt', SMALL], ['large.bin', LARGE]]),
    requireReuse: true,
    ...options,
  });
  upstreams.push(upstream);
  return upstream;
}

async function handshakes(daemon: RunningDaemon, side: string, result: string): Promise<number> {
  const metric = await daemon.metrics.tlsHandshakes.get();
  return metric.values.find((value) => value.labels.side === side && value.labels.result === result)?.value ?? 0;
}

describe('--upstream-tls explicit, plain clients allowed', () => {
  it('sends AUTH TLS, PBSZ 0 and PROT P before the login, and the data connections resume the session', async () => {
    const upstream = await ftpsUpstream();
    const { daemon, endpoint } = await startProxy(upstream.address, { upstreamTls: 'explicit', upstreamTlsCa: serverCert.certFile, allowPlainClients: 'true' });
    const client = await open(endpoint);
    await client.login();
    expect(upstream.commands.slice(0, 5)).toEqual(['AUTH TLS', 'PBSZ 0', 'PROT P', 'USER scott', 'PASS tiger']);
    await client.command('TYPE I');
    for (const [name, content] of [['small.txt', SMALL], ['large.bin', LARGE]] as const) {
      const result = await client.retrieve(name);
      expect(result.final.code, client.transcript()).toBe(226);
      expect(sha256(result.data)).toBe(sha256(content));
    }
    const upload = randomBytes(1024 * 1024 + 3);
    const stored = await client.store('up.bin', upload);
    expect(stored.final.code).toBe(226);
    expect(sha256(upstream.uploads.get('up.bin') ?? Buffer.alloc(0))).toBe(sha256(upload));
    expect(upstream.dataResumed).toEqual([true, true, true]);
    expect(await handshakes(daemon, 'upstream', 'success')).toBe(1);
    expect(await handshakes(daemon, 'upstream_data', 'success')).toBe(3);
  });

  it.each(['epsv', 'port', 'eprt'] as const)('relays %s transfers over TLS data connections to the server (PASV upstream)', async (mode) => {
    const upstream = await ftpsUpstream();
    const { endpoint } = await startProxy(upstream.address, { upstreamTls: 'explicit', upstreamTlsCa: serverCert.certFile, allowPlainClients: 'true', epsv: 'translate' });
    const client = await openLoggedIn(endpoint);
    await client.command('TYPE I');
    const result = await client.retrieve('large.bin', { mode });
    expect(result.final.code, client.transcript()).toBe(226);
    expect(sha256(result.data)).toBe(sha256(LARGE));
    const upload = randomBytes(300_001);
    expect((await client.store('up.bin', upload, { mode })).final.code).toBe(226);
    expect(sha256(upstream.uploads.get('up.bin') ?? Buffer.alloc(0))).toBe(sha256(upload));
    expect(upstream.commands.filter((line) => /^(PORT|EPRT|EPSV)/.test(line))).toEqual([]);
    expect(upstream.dataResumed).toEqual([true, true]);
  });

  it("answers the client's PBSZ, PROT and CCC itself: the server's protection stays ftpmasq's", async () => {
    const upstream = await ftpsUpstream();
    const { endpoint } = await startProxy(upstream.address, { upstreamTls: 'explicit', upstreamTlsCa: serverCert.certFile, allowPlainClients: 'true' });
    const client = await openLoggedIn(endpoint);
    expect((await client.command('PBSZ 0')).code).toBe(503);
    expect((await client.command('PROT C')).code).toBe(503);
    expect((await client.command('CCC')).code).toBe(533);
    expect(upstream.commands.filter((line) => /^(PBSZ|PROT|CCC)/.test(line))).toEqual(['PBSZ 0', 'PROT P']);
  });

  it('pins the certificate by its SHA-256 (colons or not), whoever issued it', async () => {
    const upstream = await ftpsUpstream({ mode: 'implicit' });
    const pin = new X509Certificate(readFileSync(serverCert.certFile)).fingerprint256;
    const { endpoint } = await startProxy(upstream.address, { upstreamTls: 'implicit', upstreamTlsFingerprint: pin.replaceAll(':', '').toLowerCase(), allowPlainClients: 'true' });
    const client = await openLoggedIn(endpoint);
    expect(upstream.commands.slice(0, 2)).toEqual(['USER scott', 'PASS tiger']);
    await client.command('TYPE I');
    const result = await client.retrieve('small.txt');
    expect(result.data.equals(SMALL)).toBe(true);
  });
});

describe('a server that cannot be verified: 421, and no login reaches it', () => {
  it.each([
    { title: 'a certificate from another CA', options: (): Record<string, string> => ({ upstreamTlsCa: otherCa.certFile }) },
    { title: 'a self-signed certificate against the system CAs', options: (): Record<string, string> => ({}) },
    { title: 'a wrong pin', options: (): Record<string, string> => ({ upstreamTlsFingerprint: 'AB'.repeat(32) }) },
  ])('$title: the client gets 421 and the server sees no login', async ({ options }) => {
    const upstream = await ftpsUpstream();
    const { daemon, endpoint } = await startProxy(upstream.address, { upstreamTls: 'explicit', allowPlainClients: 'true', ...options() });
    const client = await connect(endpoint);
    // Instead of the greeting, and the connection ends with it.
    expect((await client.readReply()).code).toBe(421);
    await client.waitForClose();
    expect(await handshakes(daemon, 'upstream', 'untrusted')).toBe(1);
    expect(upstream.commands).toEqual(['AUTH TLS']);
  });
});

describe('plain clients in front of a TLS server', () => {
  it('without allowPlainClients, a plain USER gets 530 and never reaches the server; over AUTH TLS it logs in', async () => {
    const upstream = await ftpsUpstream();
    const { endpoint } = await startProxy(upstream.address, {
      upstreamTls: 'explicit',
      upstreamTlsCa: serverCert.certFile,
      tlsCert: clientCert.certFile,
      tlsKey: clientCert.keyFile,
    });
    const plain = await open(endpoint);
    expect((await plain.command('USER scott')).code).toBe(530);
    expect(upstream.commands).not.toContain('USER scott');

    const secure = await FtpsTestClient.connect(endpoint);
    expect((await secure.reply()).code).toBe(220);
    await secure.startTls();
    expect((await secure.command('USER scott')).code).toBe(331);
    expect((await secure.command('PASS tiger')).code).toBe(230);
    expect(upstream.commands.filter((line) => line.startsWith('USER'))).toEqual(['USER scott']);
    secure.close();
  });
});

describe('a server that does not negotiate TLS as RFC 4217 says: 421, no session', () => {
  it.each([
    { title: 'AUTH TLS refused', afterAuth: '502 AUTH not understood\r\n' },
    { title: 'clear-text bytes after the 234', afterAuth: '234 go ahead\r\n230 injected\r\n' },
    { title: 'a greeting that is not 220', greeting: '421 Too many users\r\n' },
  ])('$title', async ({ afterAuth, greeting }) => {
    const seen: string[] = [];
    const upstream = await scripted(async (connection) => {
      connection.write(greeting ?? '220 server\r\n');
      if (afterAuth === undefined) return;
      seen.push((await connection.readCommand()).toString('latin1'));
      connection.write(afterAuth);
      await connection.serve();
    });
    const { daemon, endpoint } = await startProxy(upstream.address, { upstreamTls: 'explicit', allowPlainClients: 'true' });
    const client = await connect(endpoint);
    expect((await client.readReply()).code).toBe(421);
    await client.waitForClose();
    expect(seen.filter((line) => !line.startsWith('AUTH TLS'))).toEqual([]);
    expect(await handshakes(daemon, 'upstream', 'success')).toBe(0);
  });
});
