/**
 * Real FTPS clients on loopback through ftpmasq to a plain server: curl (OpenSSL) with
 * --ssl-reqd, passive and active; Python's ftplib.FTP_TLS with prot_p(), which never resumes the
 * TLS session on data connections; lftp (GnuTLS) with ftp:ssl-force. Checksums on both ends.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { makeCertificate, type TestCertificate } from './support/ftps-fixtures.js';

const SMALL = Buffer.from('hello ftps\r\n');
const LARGE = randomBytes(5 * 1024 * 1024 + 3);
const { legacyServer, startProxy } = createProxyHarness({
  passivePorts: '24100-24199',
  legacy: { files: new Map([['small.txt', SMALL], ['large.bin', LARGE]]) },
});

let certificate: TestCertificate;
let work: string;
beforeAll(() => {
  certificate = makeCertificate();
  work = mkdtempSync(path.join(tmpdir(), 'ftpmasq-ftps-clients-'));
  writeFileSync(path.join(work, 'upload.bin'), LARGE);
});
afterAll(() => {
  certificate.remove();
  rmSync(work, { recursive: true, force: true });
});

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a client, killed after 30 s: a hang is a failure, never a stuck test run. */
function run(command: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function setup(extra: Record<string, string> = {}) {
  const upstream = await legacyServer();
  const proxy = await startProxy(upstream.address, { tlsCert: certificate.certFile, tlsKey: certificate.keyFile, ...extra });
  return { upstream, url: `ftp://scott:tiger@127.0.0.1:${proxy.endpoint.port}` };
}

const CURL = ['-sS', '--ssl-reqd', '-k', '--max-time', '20'];

/**
 * curl 7.87 and 7.88 lost the TLS filter on active FTPS data connections and hang there
 * (curl/curl#10666, fixed in 8.0 by #10669): the active case runs only with a curl that has the fix.
 */
const CURL_MAJOR = Number(/^curl (\d+)\./.exec(execFileSync('curl', ['--version'], { encoding: 'utf8' }))?.[1] ?? 0);

describe('curl --ssl-reqd -k', () => {
  it.each([
    { title: 'passive (EPSV)', mode: [] },
    { title: 'passive, legacy PASV trusting the 227', mode: ['--disable-epsv', '--no-ftp-skip-pasv-ip'] },
    ...(CURL_MAJOR >= 8 ? [{ title: 'active (-P -)', mode: ['-P', '-'] }] : []),
  ])('$title: list, download and upload, checksums on both ends', async ({ mode }) => {
    const { upstream, url } = await setup();
    const list = await run('curl', [...CURL, ...mode, `${url}/`]);
    expect(list.stderr).toBe('');
    expect(list.stdout).toContain('large.bin');
    const target = path.join(work, `download-${mode.join('')}.bin`);
    const download = await run('curl', [...CURL, ...mode, '-o', target, `${url}/large.bin`]);
    expect(download.stderr).toBe('');
    expect(sha256(readFileSync(target))).toBe(sha256(LARGE));
    const upload = await run('curl', [...CURL, ...mode, '-T', path.join(work, 'upload.bin'), `${url}/up${mode.length}.bin`]);
    expect(upload.stderr).toBe('');
    expect(sha256(upstream.legacy.files.get(`up${mode.length}.bin`) ?? Buffer.alloc(0))).toBe(sha256(LARGE));
  });
});

const FTPLIB = `
import ftplib, hashlib, ssl, sys
port, name, reuse, active = int(sys.argv[1]), sys.argv[2], sys.argv[3] == 'reuse', sys.argv[4:] == ['active']
class ReusingFTP_TLS(ftplib.FTP_TLS):
    """The common recipe: offer the control connection's session on data connections."""
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
ftp = (ReusingFTP_TLS if reuse else ftplib.FTP_TLS)(context=context, timeout=10)
ftp.connect('127.0.0.1', port)
ftp.auth()
ftp.login('scott', 'tiger')
ftp.prot_p()
ftp.set_pasv(not active)
chunks = []
try:
    ftp.retrbinary('RETR ' + name, chunks.append)
    print('sha256', hashlib.sha256(b''.join(chunks)).hexdigest())
except ftplib.error_perm as error:
    print('refused', str(error))
ftp.quit()
`;

describe('Python ftplib.FTP_TLS with prot_p()', () => {
  it('optional: the stock client (no session reuse) downloads intact', async () => {
    const { url } = await setup({ dataTlsReuse: 'optional' });
    const port = url.split(':').at(-1) ?? '';
    const result = await run('python3', ['-c', FTPLIB, port, 'large.bin', 'plain']);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(`sha256 ${sha256(LARGE)}`);
  });

  it('required: the stock client gets a clean 522 at once, never a hang', async () => {
    const { url } = await setup();
    const port = url.split(':').at(-1) ?? '';
    const started = Date.now();
    const result = await run('python3', ['-c', FTPLIB, port, 'small.txt', 'plain']);
    expect(result.stdout.trim(), result.stderr).toMatch(/^refused 522 /);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it.each(['passive', 'active'])('required: ftplib offering the control session (the usual subclass), %s, downloads intact', async (mode) => {
    const { url } = await setup();
    const port = url.split(':').at(-1) ?? '';
    const result = await run('python3', ['-c', FTPLIB, port, 'large.bin', 'reuse', mode]);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe(`sha256 ${sha256(LARGE)}`);
  });
});

describe('lftp with ftp:ssl-force', () => {
  it('downloads and uploads intact over PROT P', async () => {
    const { upstream, url } = await setup();
    const target = path.join(work, 'lftp-download.bin');
    const script = [
      'set ftp:ssl-force true',
      'set ftp:ssl-protect-data true',
      'set ssl:verify-certificate no',
      'set net:max-retries 1',
      'set net:timeout 10',
      `open ${url}`,
      `get large.bin -o ${target}`,
      `put ${path.join(work, 'upload.bin')} -o lftp-up.bin`,
      'bye',
    ].join('; ');
    const result = await run('lftp', ['-c', script]);
    expect(result.stderr).toBe('');
    expect(sha256(readFileSync(target))).toBe(sha256(LARGE));
    expect(sha256(upstream.legacy.files.get('lftp-up.bin') ?? Buffer.alloc(0))).toBe(sha256(LARGE));
  });
});
