/**
 * Issue 12, FTPS termination: ftpmasq in the gateway namespace with a certificate made by this test,
 * in front of the real ProFTPD (plain, no MasqueradeAddress, no TLS). curl --ssl-reqd in the client
 * namespace (AUTH TLS, PBSZ 0, PROT P, TLS session reuse on the data connections) with legacy PASV
 * (trusting the 227) and with its defaults (EPSV): 12 B, a UTF-8 name and 64 MiB downloaded, 5 MiB
 * uploaded, sizes and SHA-256 equal on both ends. Then a plain login under --client-tls required.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientKind, createLftpClient, describeRun, type FtpClient } from '../helpers/clients.js';
import { FTP_PASSWORD, FTP_USER, JAPANESE_FILE, figuresOf } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS, type RunResult } from '../helpers/topology.js';
import type { Figures } from './support/client-matrix.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { itTransfersIntact, ProxyUnderTest, refusals } from './support/proxy-checks.js';

const CLIENT_TIMEOUT_S = 60;
const base = `ftp://${PUBLIC_ADDRESS}:21/`;
const IMPLICIT_PORT = 990;

let env: E2eEnvironment | undefined;
let certDir: string | undefined;
const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const proxy = new ProxyUnderTest(requireEnv);
const figures: Figures[] = [];

function certificateArgs(): string[] {
  if (certDir === undefined) throw new Error('no certificate');
  return ['--tls-cert', join(certDir, 'cert.pem'), '--tls-key', join(certDir, 'key.pem')];
}

beforeAll(async () => {
  env = await setUpEnvironment();
  certDir = mkdtempSync(join(tmpdir(), 'fmq-e2e-tls-'));
  execFileSync(
    env.tools.openssl,
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${PUBLIC_ADDRESS}`,
      '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')],
    { stdio: 'ignore' },
  );
});

afterAll(async () => {
  try {
    await proxy.stop();
  } finally {
    if (certDir !== undefined) rmSync(certDir, { recursive: true, force: true });
    await env?.teardown();
  }
});

/** curl with --ssl-reqd in the client namespace; --verbose shows the TLS dialogue on stderr. */
function curlFtps(kind: ClientKind, modeArgs: readonly string[], url = base): FtpClient {
  const { tools, topology } = requireEnv();
  const curl = (args: readonly string[]): Promise<RunResult> =>
    topology.exec(
      topology.client.namespace,
      tools.curl,
      ['--silent', '--show-error', '--verbose', '--ssl-reqd', '--insecure', '--user', `${FTP_USER}:${FTP_PASSWORD}`,
        '--connect-timeout', '5', '--max-time', String(CLIENT_TIMEOUT_S), ...modeArgs, ...args],
      { timeoutMs: (CLIENT_TIMEOUT_S + 15) * 1000 },
    );
  return {
    kind,
    host: topology.client,
    async list() {
      const run = await curl([url]);
      return { run, listing: run.stdout.toString('utf8') };
    },
    download: (remoteName, localPath) => curl(['--output', localPath, `${url}${encodeURIComponent(remoteName)}`]),
    upload: (localPath, remoteName) => curl(['--upload-file', localPath, `${url}${encodeURIComponent(remoteName)}`]),
  };
}

/** The control dialogue went through TLS with PROT P, and the data connections resumed the session. */
function checkTlsTrace(run: RunResult): void {
  expect(run.stderr, describeRun(run)).toContain('< 234 ');
  expect(run.stderr).toContain('> PROT P');
  expect(run.stderr).toMatch(/SSL connection using TLSv1\.[23]/);
  expect(run.stderr).toMatch(/SSL re-using session ID|Reusing existing connection|session ID/);
}

describe.each([
  { kind: 'curl-legacy' as const, label: 'ftps-pasv', modeArgs: ['--disable-epsv', '--no-ftp-skip-pasv-ip'] },
  { kind: 'curl-epsv' as const, label: 'ftps-epsv', modeArgs: [] },
])('curl --ssl-reqd $modeArgs through ftpmasq to the plain ProFTPD', ({ kind, label, modeArgs }) => {
  beforeAll(async () => {
    await proxy.start(certificateArgs());
  });

  itTransfersIntact(
    () => ({ env: requireEnv(), client: curlFtps(kind, modeArgs), label, checkTrace: checkTlsTrace, diagnostics: () => proxy.logTail() }),
    figures,
  );

  it(`downloads ${JAPANESE_FILE} (a UTF-8 name) intact`, async () => {
    const expected = requireEnv().proftpd.fixtures.get(JAPANESE_FILE);
    const localPath = join(requireEnv().clientDir, `${label}-${JAPANESE_FILE}`);
    const run = await curlFtps(kind, modeArgs).download(JAPANESE_FILE, localPath);
    expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
    expect(await figuresOf(localPath, JAPANESE_FILE)).toEqual(expected);
  });

  it('logged TLS data connections that resumed the control session, and refused none', async () => {
    const resumed = proxy.records('data connection is TLS').filter((record) => record['resumed'] === true);
    expect(resumed.length, proxy.logTail()).toBeGreaterThanOrEqual(4);
    const metrics = await proxy.metrics();
    expect(metrics.value(refusals('tls_session_not_reused'))).toBe(0);
  });
});

describe(`curl ftps:// on the implicit listener (--tls-listen ${PUBLIC_ADDRESS}:${IMPLICIT_PORT})`, () => {
  beforeAll(async () => {
    await proxy.start([...certificateArgs(), '--tls-listen', `${PUBLIC_ADDRESS}:${IMPLICIT_PORT}`]);
  });

  itTransfersIntact(
    () => ({
      env: requireEnv(),
      client: curlFtps('curl-epsv', [], `ftps://${PUBLIC_ADDRESS}:${IMPLICIT_PORT}/`),
      label: 'ftps-implicit',
      checkTrace: (run) => {
        expect(run.stderr, describeRun(run)).toMatch(/SSL connection using TLSv1\.[23]/);
        expect(run.stderr).not.toContain('> AUTH');
      },
      diagnostics: () => proxy.logTail(),
    }),
    figures,
  );
});

describe('lftp with ftp:ssl-force and ftp:ssl-protect-data (PASV, trusting the 227)', () => {
  beforeAll(async () => {
    await proxy.start(certificateArgs());
  });

  itTransfersIntact(
    () => {
      const { tools, topology } = requireEnv();
      const client = createLftpClient({ tools, topology, host: topology.client, endpoint: { address: PUBLIC_ADDRESS, port: 21 } }, [
        'ftp:ssl-allow yes',
        'ftp:ssl-force true',
        'ftp:ssl-protect-data true',
      ]);
      return {
        env: requireEnv(),
        client,
        label: 'ftps-lftp',
        checkTrace: (run) => expect(run.stderr, describeRun(run)).toContain('---> PROT P'),
        diagnostics: () => proxy.logTail(),
      };
    },
    figures,
  );
});

const FTPLIB_TLS = `
import ftplib, hashlib, ssl, sys
host, name = sys.argv[1], sys.argv[2]
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
ftp = ftplib.FTP_TLS(context=context, timeout=30)
ftp.trust_server_pasv_ipv4_address = True
ftp.connect(host, 21)
ftp.auth()
ftp.login('${FTP_USER}', '${FTP_PASSWORD}')
ftp.prot_p()
digest = hashlib.sha256()
size = 0
def take(chunk):
    global size
    size += len(chunk)
    digest.update(chunk)
try:
    ftp.retrbinary('RETR ' + name, take)
    print(size, digest.hexdigest())
except ftplib.error_perm as error:
    print('refused', str(error))
ftp.quit()
`;

describe('Python ftplib.FTP_TLS with prot_p(), trusting the 227 (it never resumes the TLS session)', () => {
  it('under --data-tls-reuse optional downloads 64 MiB intact', async () => {
    await proxy.start([...certificateArgs(), '--data-tls-reuse', 'optional']);
    const { tools, topology, proftpd } = requireEnv();
    const expected = proftpd.fixtures.get('random-64MiB.bin');
    const run = await topology.exec(topology.client.namespace, tools.python3, ['-c', FTPLIB_TLS, PUBLIC_ADDRESS, 'random-64MiB.bin'], { timeoutMs: 90_000 });
    expect(run.stdout.toString('utf8').trim(), `${describeRun(run)}\n${proxy.logTail()}`).toBe(`${expected?.size} ${expected?.sha256}`);
  });

  it('under --data-tls-reuse required gets a clean 522 at once', async () => {
    await proxy.start(certificateArgs());
    const { tools, topology } = requireEnv();
    const run = await topology.exec(topology.client.namespace, tools.python3, ['-c', FTPLIB_TLS, PUBLIC_ADDRESS, 'sample.txt'], { timeoutMs: 30_000 });
    expect(run.stdout.toString('utf8').trim(), describeRun(run)).toMatch(/^refused 522 /);
    expect(run.durationMs).toBeLessThan(10_000);
  });
});

describe('--client-tls required', () => {
  beforeAll(async () => {
    await proxy.start([...certificateArgs(), '--client-tls', 'required']);
  });

  it('a plain login gets 530 and the server never sees it', async () => {
    const { tools, topology } = requireEnv();
    const logBefore = (await requireEnv().proftpd.readLog()).length;
    const run = await topology.exec(topology.client.namespace, tools.curl, [
      '--silent', '--show-error', '--verbose', '--user', `${FTP_USER}:${FTP_PASSWORD}`, '--max-time', '20', base,
    ]);
    expect(run.code).not.toBe(0);
    expect(run.stderr, describeRun(run)).toContain('< 530 TLS required: send AUTH TLS before USER.');
    const log = (await requireEnv().proftpd.readLog()).slice(logBefore);
    expect(log).not.toMatch(/USER scott/);
    expect((await proxy.metrics()).value(refusals('tls_required'))).toBeGreaterThanOrEqual(1);
  });
});
