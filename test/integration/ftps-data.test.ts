/**
 * PROT P data connections (RFC 4217 section 7) through ftpmasq to a plain server: ftpmasq is the
 * TLS server on passive and active data connections, and with --data-tls-reuse required (the
 * default) a data connection must resume its own control connection's TLS session.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOpenFds, openFdCount, settleFdCount } from '../helpers/fd-count.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { connectDataTls, FtpsTestClient, makeCertificate, readAll, type HandshakeOptions, type TestCertificate } from './support/ftps-fixtures.js';

const SMALL = Buffer.from('hello ftps\r\n');
const LARGE = randomBytes(3 * 1024 * 1024 + 17);
const { legacyServer, startProxy } = createProxyHarness({
  passivePorts: '24050-24099',
  legacy: { files: new Map([['small.txt', SMALL], ['large.bin', LARGE]]) },
});

let certificate: TestCertificate;
beforeAll(() => {
  certificate = makeCertificate();
});
afterAll(() => certificate.remove());

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function setup(extra: Record<string, string> = {}) {
  const upstream = await legacyServer();
  const proxy = await startProxy(upstream.address, { tlsCert: certificate.certFile, tlsKey: certificate.keyFile, ...extra });
  return { upstream, proxy };
}

/** Logged in over TLS with PBSZ 0 and PROT P. */
async function secureSession(endpoint: { host: string; port: number }, options: HandshakeOptions = {}): Promise<FtpsTestClient> {
  const client = await FtpsTestClient.connect(endpoint);
  expect((await client.reply()).code).toBe(220);
  await client.startTls(options);
  expect((await client.command('USER scott')).code).toBe(331);
  expect((await client.command('PASS tiger')).code).toBe(230);
  expect((await client.command('PBSZ 0')).code).toBe(200);
  expect((await client.command('PROT P')).code).toBe(200);
  expect((await client.command('TYPE I')).code).toBe(200);
  return client;
}

async function pasv(client: FtpsTestClient): Promise<{ host: string; port: number }> {
  const reply = await client.command('PASV');
  const match = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(reply.text);
  if (match === null) throw new Error(`PASV answered ${reply.text}`);
  const [, a, b, c, d, p1, p2] = match.map(Number);
  return { host: `${a}.${b}.${c}.${d}`, port: (p1 ?? 0) * 256 + (p2 ?? 0) };
}

function lastSession(client: FtpsTestClient): Buffer {
  const session = client.sessions.at(-1);
  if (session === undefined) throw new Error('no TLS session from the control connection');
  return session;
}

async function refusalCount(proxy: Awaited<ReturnType<typeof setup>>['proxy'], reason: string): Promise<number> {
  const values = (await proxy.daemon.metrics.refusals.get()).values;
  return values.find((value) => value.labels['reason'] === reason)?.value ?? 0;
}

describe('PROT P, passive', () => {
  it.each([
    { title: 'TLS 1.3', options: {} },
    { title: 'TLS 1.2', options: { maxVersion: 'TLSv1.2' as const } },
  ])('$title: a download resumes the control session, arrives intact, and ends with close_notify before the 226', async ({ options }) => {
    const { proxy } = await setup();
    const client = await secureSession(proxy.endpoint, options);
    const target = await pasv(client);
    // Same TLS settings as the control connection, as real clients use.
    const data = await connectDataTls(target, lastSession(client), options);
    expect(data.isSessionReused()).toBe(true);
    expect(data.getProtocol()).toBe(options.maxVersion ?? 'TLSv1.3');
    const received = readAll(data);
    expect((await client.command('RETR large.bin')).code).toBe(150);
    const { data: bytes, clean } = await received;
    expect((await client.reply()).code).toBe(226);
    expect(clean).toBe(true);
    expect(sha256(bytes)).toBe(sha256(LARGE));
    client.close();
  });

  it('an upload resumes the session and reaches the server intact before the 226', async () => {
    const { upstream, proxy } = await setup();
    const client = await secureSession(proxy.endpoint);
    const target = await pasv(client);
    const data = await connectDataTls(target, lastSession(client));
    expect((await client.command('STOR upload.bin')).code).toBe(150);
    data.end(LARGE);
    expect((await client.reply()).code).toBe(226);
    expect(sha256(upstream.legacy.files.get('upload.bin') ?? Buffer.alloc(0))).toBe(sha256(LARGE));
    client.close();
  });

  it('required: a fresh handshake from the client\'s own address gets nothing, and the transfer 522 at once', async () => {
    const { proxy } = await setup();
    const client = await secureSession(proxy.endpoint);
    const target = await pasv(client);
    const data = await connectDataTls(target, undefined).catch(() => undefined);
    const received = data === undefined ? Promise.resolve({ data: Buffer.alloc(0), clean: false }) : readAll(data);
    const started = Date.now();
    const first = await client.command('RETR small.txt');
    const final = first.code === 150 ? await client.reply() : first;
    expect(final.text).toMatch(/^522 /);
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await received).data.length).toBe(0);
    expect(await refusalCount(proxy, 'tls_session_not_reused')).toBe(1);
    const handshakes = (await proxy.daemon.metrics.tlsHandshakes.get()).values;
    expect(handshakes.find((value) => value.labels['side'] === 'client_data' && value.labels['result'] === 'not_resumed')?.value).toBe(1);
    // The session goes on: the next transfer, resuming, works.
    const again = await pasv(client);
    const resumed = await connectDataTls(again, lastSession(client));
    const bytes = readAll(resumed);
    expect((await client.command('RETR small.txt')).code).toBe(150);
    expect((await bytes).data.equals(SMALL)).toBe(true);
    expect((await client.reply()).code).toBe(226);
    client.close();
  });

  it('required: a session resumed from another control connection of the same client is refused', async () => {
    const { proxy } = await setup();
    const first = await secureSession(proxy.endpoint);
    const second = await secureSession(proxy.endpoint);
    const target = await pasv(second);
    const data = await connectDataTls(target, lastSession(first)).catch(() => undefined);
    expect(data?.isSessionReused() ?? false).toBe(false);
    const reply = await second.command('RETR small.txt');
    expect((reply.code === 150 ? await second.reply() : reply).code).toBe(522);
    first.close();
    second.close();
  });

  it('optional: a client that never resumes (ftplib, Commons Net) is served', async () => {
    const { proxy } = await setup({ dataTlsReuse: 'optional' });
    const client = await secureSession(proxy.endpoint);
    const target = await pasv(client);
    const data = await connectDataTls(target, undefined);
    expect(data.isSessionReused()).toBe(false);
    const received = readAll(data);
    expect((await client.command('RETR small.txt')).code).toBe(150);
    expect((await received).data.equals(SMALL)).toBe(true);
    expect((await client.reply()).code).toBe(226);
    client.close();
  });
});

describe('PROT P, active', () => {
  it('ftpmasq dials the PORT address and is the TLS server there (RFC 4217 section 7); the download arrives intact', async () => {
    const { proxy } = await setup();
    const client = await secureSession(proxy.endpoint);
    const listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const address = listener.address();
    if (address === null || typeof address === 'string') throw new Error('no listener address');
    const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
    const port = address.port;
    expect((await client.command(`PORT 127,0,0,1,${Math.floor(port / 256)},${port % 256}`)).code).toBe(200);
    client.send('RETR large.bin\r\n');
    const data = await connectDataTls(await accepted, lastSession(client));
    expect(data.isSessionReused()).toBe(true);
    const { data: bytes } = await readAll(data);
    expect((await client.reply()).code).toBe(150);
    expect((await client.reply()).code).toBe(226);
    expect(sha256(bytes)).toBe(sha256(LARGE));
    listener.close();
    client.close();
  });
});

describe('PROT C after AUTH TLS', () => {
  it('data goes in clear text, as before', async () => {
    const { proxy } = await setup();
    const client = await secureSession(proxy.endpoint);
    expect((await client.command('PROT C')).code).toBe(200);
    const target = await pasv(client);
    const data = net.connect(target.port, target.host);
    const received = readAll(data);
    expect((await client.command('RETR small.txt')).code).toBe(150);
    expect((await received).data.equals(SMALL)).toBe(true);
    expect((await client.reply()).code).toBe(226);
    client.close();
  });
});

describe('no leaks', () => {
  it('40 FTPS sessions (resumed, refused and abandoned data connections) leave no descriptor, session or port behind', async () => {
    const { proxy } = await setup();
    // One session first, so lazily opened descriptors (the TLS library's) are counted in the baseline.
    const warm = await secureSession(proxy.endpoint);
    warm.close();
    await settleFdCount(0, 200);
    const before = openFdCount();
    for (let round = 0; round < 40; round++) {
      const client = await secureSession(proxy.endpoint);
      const target = await pasv(client);
      const kind = round % 3;
      if (kind === 0) {
        const data = await connectDataTls(target, lastSession(client));
        const received = readAll(data);
        expect((await client.command('RETR small.txt')).code).toBe(150);
        expect((await received).data.equals(SMALL)).toBe(true);
        expect((await client.reply()).code).toBe(226);
      } else if (kind === 1) {
        const data = await connectDataTls(target, undefined).catch(() => undefined);
        const first = await client.command('RETR small.txt');
        expect((first.code === 150 ? await client.reply() : first).code).toBe(522);
        data?.destroy();
      } else {
        // TCP to the passive port, then the client goes away mid-handshake.
        const socket = net.connect(target.port, target.host);
        await new Promise((resolve) => socket.once('connect', resolve));
        socket.destroy();
      }
      client.close();
    }
    await waitUntilIdle(() => proxy.daemon.sessionCount() === 0);
    const after = await settleFdCount(before, 3000);
    expect(after, describeOpenFds().join('\n')).toBeLessThanOrEqual(before);
    expect((await proxy.daemon.metrics.passivePortsInUse.get()).values[0]?.value).toBe(0);
  });
});

async function waitUntilIdle(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(condition()).toBe(true);
}
