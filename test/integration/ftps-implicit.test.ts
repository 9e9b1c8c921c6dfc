/**
 * Implicit FTPS (`--tls-listen`, the port-990 style): TLS from the first byte, the greeting
 * already encrypted, no AUTH TLS. Node's tls client and curl's ftps:// URL, checksums on both ends.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withTimeout } from '../helpers/raw-ftp-client.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { makeCertificate, type TestCertificate } from './support/ftps-fixtures.js';

const LARGE = randomBytes(2 * 1024 * 1024 + 5);
const { legacyServer, startProxy } = createProxyHarness({
  passivePorts: '24210-24249',
  legacy: { files: new Map([['large.bin', LARGE]]) },
});

let certificate: TestCertificate;
let work: string;
beforeAll(() => {
  certificate = makeCertificate();
  work = mkdtempSync(path.join(tmpdir(), 'ftpmasq-ftps-implicit-'));
});
afterAll(() => {
  certificate.remove();
  rmSync(work, { recursive: true, force: true });
});

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function setup() {
  const upstream = await legacyServer();
  const proxy = await startProxy(upstream.address, { tlsCert: certificate.certFile, tlsKey: certificate.keyFile, tlsListen: '127.0.0.1:0' });
  const [plain, implicit] = proxy.daemon.addresses;
  if (plain === undefined || implicit === undefined) throw new Error(`expected two listeners, got ${JSON.stringify(proxy.daemon.addresses)}`);
  return { upstream, plain, implicit };
}

describe('--tls-listen', () => {
  it('greets over TLS at once (no AUTH TLS); the plain listener of the same site stays plain', async () => {
    const { plain, implicit } = await setup();
    const secure = tls.connect({ host: implicit.host, port: implicit.port, rejectUnauthorized: false, ALPNProtocols: ['ftp'] });
    const greeting = await withTimeout(
      new Promise<string>((resolve, reject) => {
        secure.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1')));
        secure.once('error', reject);
      }),
      5000,
      () => 'TLS greeting',
    );
    expect(greeting).toMatch(/^220 /);
    expect(secure.alpnProtocol).toBe('ftp');
    secure.destroy();
    const clear = await new Promise<string>((resolve) => {
      const socket = tls.connect({ host: plain.host, port: plain.port, rejectUnauthorized: false });
      socket.once('error', (error) => resolve(`error: ${error.message}`));
      socket.once('secureConnect', () => resolve('TLS'));
    });
    expect(clear).toMatch(/^error/);
  });

  it('curl ftps:// (implicit) downloads and uploads intact', async () => {
    const { upstream, implicit } = await setup();
    const url = `ftps://scott:tiger@127.0.0.1:${implicit.port}`;
    const target = path.join(work, 'download.bin');
    const source = path.join(work, 'upload.bin');
    writeFileSync(source, LARGE);
    const download = await runCurl(['-sS', '-k', '--max-time', '20', '-o', target, `${url}/large.bin`]);
    expect(download).toBe('');
    expect(sha256(readFileSync(target))).toBe(sha256(LARGE));
    const upload = await runCurl(['-sS', '-k', '--max-time', '20', '-T', source, `${url}/up.bin`]);
    expect(upload).toBe('');
    expect(sha256(upstream.legacy.files.get('up.bin') ?? Buffer.alloc(0))).toBe(sha256(LARGE));
  });
});

/** curl's stderr (empty when all went well); killed after 30 s. */
function runCurl(args: readonly string[]): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn('curl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(stderr);
    });
  });
}
