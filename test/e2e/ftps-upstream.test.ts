/**
 * Issue 12, TLS towards the server: the real ProFTPD with mod_tls (TLS-only: `TLSRequired on`), which
 * requires TLS session reuse on data connections (mod_tls's default) and has no MasqueradeAddress,
 * behind ftpmasq with --upstream-tls explicit. Certificates made here by openssl: a CA, the server's
 * certificate from it (for 10.0.11.251), another CA, and ftpmasq's own for its clients.
 * - curl --ssl-reqd (TLS on both legs) and Python ftplib (a plain client, --allow-plain-clients true):
 *   12 B, a UTF-8 name and 64 MiB downloaded, 5 MiB uploaded, sizes and SHA-256 equal on both ends;
 *   ProFTPD logs every data connection as a resumed session.
 * - The server's certificate checked against another CA, or a wrong pin: 421, no login reaches it.
 * - The right pin (SHA-256 of the server's certificate) works without a CA.
 * - `ftpmasq probe` from the gateway finds AUTH TLS offered and session reuse required.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, describeRun, type FtpClient } from '../helpers/clients.js';
import { FTP_PASSWORD, FTP_USER, JAPANESE_FILE, SAMPLE_FILE, figuresOf } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS, SERVER_ADDRESS, type RunResult } from '../helpers/topology.js';
import type { Figures } from './support/client-matrix.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { itTransfersIntact, ProxyUnderTest } from './support/proxy-checks.js';

const CLIENT_TIMEOUT_S = 60;
const CLI_PATH = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const base = `ftp://${PUBLIC_ADDRESS}:21/`;

let env: E2eEnvironment | undefined;
const certDir = mkdtempSync(join(tmpdir(), 'fmq-e2e-upstls-'));
const file = (name: string): string => join(certDir, name);
const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const proxy = new ProxyUnderTest(requireEnv);
const figures: Figures[] = [];

function openssl(args: readonly string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA, a server certificate from it for SERVER_ADDRESS, another CA, and ftpmasq's client-side certificate. */
function makeCertificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-days', '1', '-subj', '/CN=ftpmasq e2e CA', '-keyout', file('ca.key'), '-out', file('ca.pem')]);
  openssl(['req', '-x509', ...ec, '-days', '1', '-subj', '/CN=another CA', '-keyout', file('other-ca.key'), '-out', file('other-ca.pem')]);
  openssl(['req', ...ec, '-subj', `/CN=${SERVER_ADDRESS}`, '-keyout', file('server.key'), '-out', file('server.csr')]);
  writeFileSync(file('server.ext'), `subjectAltName=IP:${SERVER_ADDRESS}\n`);
  openssl(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '1',
    '-extfile', file('server.ext'), '-out', file('server.pem')]);
  openssl(['req', '-x509', ...ec, '-days', '1', '-subj', `/CN=${PUBLIC_ADDRESS}`, '-keyout', file('proxy.key'), '-out', file('proxy.pem')]);
}

/** mod_tls with its defaults but TLS required: data connections must resume the control session. */
function modTlsConfig(runDir: string): string {
  return `
LoadModule mod_tls.c
<IfModule mod_tls.c>
  TLSEngine                 on
  TLSRequired               on
  TLSProtocol               TLSv1.2 TLSv1.3
  TLSECCertificateFile      ${file('server.pem')}
  TLSECCertificateKeyFile   ${file('server.key')}
  TLSVerifyClient           off
  TLSLog                    ${runDir}/tls.log
</IfModule>
`;
}

beforeAll(async () => {
  makeCertificates();
  env = await setUpEnvironment({ proftpdExtraConfig: modTlsConfig(certDir) });
});

afterAll(async () => {
  try {
    await proxy.stop();
  } finally {
    rmSync(certDir, { recursive: true, force: true });
    await env?.teardown();
  }
});

const upstreamTlsArgs = (...verify: string[]): string[] => ['--upstream-tls', 'explicit', ...verify];
const clientCertArgs = ['--tls-cert', file('proxy.pem'), '--tls-key', file('proxy.key')];

/** mod_tls's log: how many data connections resumed the control connection's session. */
function resumedDataConnections(): number {
  const log = readFileSync(join(certDir, 'tls.log'), 'utf8');
  return log.split('\n').filter((line) => line.includes('client reused TLS session for data connection')).length;
}

function curlFtps(): FtpClient {
  const { tools, topology } = requireEnv();
  const curl = (args: readonly string[]): Promise<RunResult> =>
    topology.exec(
      topology.client.namespace,
      tools.curl,
      ['--silent', '--show-error', '--verbose', '--ssl-reqd', '--insecure', '--user', `${FTP_USER}:${FTP_PASSWORD}`,
        '--connect-timeout', '5', '--max-time', String(CLIENT_TIMEOUT_S), '--disable-epsv', '--no-ftp-skip-pasv-ip', ...args],
      { timeoutMs: (CLIENT_TIMEOUT_S + 15) * 1000 },
    );
  return {
    kind: 'curl-legacy',
    host: topology.client,
    async list() {
      const run = await curl([base]);
      return { run, listing: run.stdout.toString('utf8') };
    },
    download: (remoteName, localPath) => curl(['--output', localPath, `${base}${encodeURIComponent(remoteName)}`]),
    upload: (localPath, remoteName) => curl(['--upload-file', localPath, `${base}${encodeURIComponent(remoteName)}`]),
  };
}

function ftplib(): FtpClient {
  const { tools, topology } = requireEnv();
  return createClient('python-ftplib', { tools, topology, host: topology.client, endpoint: { address: PUBLIC_ADDRESS, port: 21 } });
}

function itDownloadsTheUtf8Name(label: string, client: () => FtpClient): void {
  it(`downloads ${JAPANESE_FILE} (a UTF-8 name) intact`, async () => {
    const expected = requireEnv().proftpd.fixtures.get(JAPANESE_FILE);
    const localPath = join(requireEnv().clientDir, `${label}-${JAPANESE_FILE}`);
    const run = await client().download(JAPANESE_FILE, localPath);
    expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
    expect(await figuresOf(localPath, JAPANESE_FILE)).toEqual(expected);
  });
}

describe('curl --ssl-reqd through ftpmasq (--upstream-tls explicit, the CA given) to ProFTPD mod_tls', () => {
  let resumedBefore = 0;
  beforeAll(async () => {
    await proxy.start([...clientCertArgs, ...upstreamTlsArgs('--upstream-tls-ca', file('ca.pem'))]);
    resumedBefore = resumedDataConnections();
  });

  itTransfersIntact(
    () => ({
      env: requireEnv(),
      client: curlFtps(),
      label: 'upstream-tls-curl',
      checkTrace: (run) => {
        expect(run.stderr, describeRun(run)).toContain('< 234 ');
        expect(run.stderr).toContain('> PROT P');
      },
      diagnostics: () => proxy.logTail(),
    }),
    figures,
  );
  itDownloadsTheUtf8Name('upstream-tls-curl', curlFtps);

  it('every data connection to the server resumed ftpmasq\'s control session (ProFTPD\'s log), none untrusted', async () => {
    expect(resumedDataConnections() - resumedBefore).toBeGreaterThanOrEqual(4);
    const metrics = await proxy.metrics();
    expect(metrics.value('ftpmasq_tls_handshakes_total{side="upstream",result="success"}')).toBeGreaterThanOrEqual(4);
    expect(metrics.value('ftpmasq_tls_handshakes_total{side="upstream_data",result="success"}')).toBeGreaterThanOrEqual(4);
    expect(metrics.value('ftpmasq_tls_handshakes_total{side="upstream_data",result="failure"}')).toBe(0);
  });
});

describe('preconnected TLS connections (--upstream-preconnect 2): a session takes the TLS session with the connection', () => {
  let resumedBefore = 0;
  beforeAll(async () => {
    // One process: each worker keeps its own pool, and the count of used spares follows one pool.
    await proxy.start([...clientCertArgs, ...upstreamTlsArgs('--upstream-tls-ca', file('ca.pem')), '--workers', '1', '--upstream-preconnect', '2']);
    resumedBefore = resumedDataConnections();
  });

  async function waitingSpares(): Promise<number> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const waiting = (await proxy.metrics()).value('ftpmasq_upstream_preconnected');
      if (waiting >= 1 || Date.now() > deadline) return waiting;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('4 downloads in a row, each after the first on a preconnected connection: intact, every data connection resumed', async () => {
    const expected = requireEnv().proftpd.fixtures.get(SAMPLE_FILE);
    for (let index = 0; index < 4; index++) {
      const localPath = join(requireEnv().clientDir, `preconnect-tls-${index}-${SAMPLE_FILE}`);
      const run = await curlFtps().download(SAMPLE_FILE, localPath);
      expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
      expect(run.stderr).toMatch(/< 220 /);
      expect(await figuresOf(localPath, SAMPLE_FILE)).toEqual(expected);
      expect(await waitingSpares(), proxy.logTail()).toBeGreaterThanOrEqual(1);
    }
    const metrics = await proxy.metrics();
    expect(metrics.value('ftpmasq_upstream_preconnects_total{outcome="used"}')).toBe(3);
    expect(metrics.value('ftpmasq_tls_handshakes_total{side="upstream_data",result="failure"}')).toBe(0);
    expect(resumedDataConnections() - resumedBefore).toBe(4);
  });
});

describe('Python ftplib, a plain client, in front of the TLS-only server (--allow-plain-clients true)', () => {
  beforeAll(async () => {
    await proxy.start([...upstreamTlsArgs('--upstream-tls-ca', file('ca.pem')), '--allow-plain-clients', 'true']);
  });

  itTransfersIntact(
    () => ({ env: requireEnv(), client: ftplib(), label: 'upstream-tls-ftplib', checkTrace: () => undefined, diagnostics: () => proxy.logTail() }),
    figures,
  );
  itDownloadsTheUtf8Name('upstream-tls-ftplib', ftplib);
});

describe('the server\'s certificate is checked', () => {
  async function firstReply(): Promise<RunResult> {
    const { tools, topology } = requireEnv();
    return topology.exec(topology.client.namespace, tools.curl, [
      '--silent', '--show-error', '--verbose', '--user', `${FTP_USER}:${FTP_PASSWORD}`, '--max-time', '20', `${base}${SAMPLE_FILE}`,
    ]);
  }

  it.each([
    { title: 'a certificate from another CA', verify: (): string[] => ['--upstream-tls-ca', file('other-ca.pem')] },
    { title: 'a wrong pin', verify: (): string[] => ['--upstream-tls-fingerprint', 'AB'.repeat(32)] },
  ])('$title: 421, and no login reaches the server', async ({ verify }) => {
    await proxy.start([...upstreamTlsArgs(...verify()), '--allow-plain-clients', 'true']);
    const logBefore = (await requireEnv().proftpd.readLog()).length;
    const run = await firstReply();
    expect(run.code).not.toBe(0);
    expect(run.stderr, describeRun(run)).toContain('< 421 ');
    expect(run.stderr).not.toContain('< 220 ');
    expect((await requireEnv().proftpd.readLog()).slice(logBefore)).not.toMatch(/USER scott/);
    expect((await proxy.metrics()).value('ftpmasq_tls_handshakes_total{side="upstream",result="untrusted"}')).toBe(1);
  });

  it('the right pin (colons, as openssl prints it) works without a CA', async () => {
    const pin = new X509Certificate(readFileSync(file('server.pem'))).fingerprint256;
    await proxy.start([...upstreamTlsArgs('--upstream-tls-fingerprint', pin), '--allow-plain-clients', 'true']);
    const localPath = join(requireEnv().clientDir, `pinned-${SAMPLE_FILE}`);
    const run = await ftplib().download(SAMPLE_FILE, localPath);
    expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
    expect(await figuresOf(localPath, SAMPLE_FILE)).toEqual(requireEnv().proftpd.fixtures.get(SAMPLE_FILE));
  });
});

describe('ftpmasq probe against ProFTPD mod_tls', () => {
  it('reports AUTH TLS offered, the certificate untrusted by the system CAs, and session reuse required', async () => {
    const { topology } = requireEnv();
    const url = `ftp://${FTP_USER}:${FTP_PASSWORD}@${SERVER_ADDRESS}:21`;
    const run = await topology.exec(topology.gateway, process.execPath, [CLI_PATH, 'probe', '--json', url], { timeoutMs: 60_000 });
    const report: unknown = JSON.parse(run.stdout.toString('utf8'));
    const pin = new X509Certificate(readFileSync(file('server.pem'))).fingerprint256;
    expect(report, describeRun(run)).toMatchObject({
      tls: { outcome: 'offered', certificate: { fingerprint256: pin, trusted: false }, sessionReuse: { verdict: 'required' } },
    });
  });
});
