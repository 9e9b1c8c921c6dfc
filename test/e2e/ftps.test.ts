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
import { type ClientKind, describeRun, type FtpClient } from '../helpers/clients.js';
import { FTP_PASSWORD, FTP_USER, JAPANESE_FILE, figuresOf } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS, type RunResult } from '../helpers/topology.js';
import type { Figures } from './support/client-matrix.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { itTransfersIntact, ProxyUnderTest, refusals } from './support/proxy-checks.js';

const CLIENT_TIMEOUT_S = 60;
const base = `ftp://${PUBLIC_ADDRESS}:21/`;

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
function curlFtps(kind: ClientKind, modeArgs: readonly string[]): FtpClient {
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
      const run = await curl([base]);
      return { run, listing: run.stdout.toString('utf8') };
    },
    download: (remoteName, localPath) => curl(['--output', localPath, `${base}${encodeURIComponent(remoteName)}`]),
    upload: (localPath, remoteName) => curl(['--upload-file', localPath, `${base}${encodeURIComponent(remoteName)}`]),
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
