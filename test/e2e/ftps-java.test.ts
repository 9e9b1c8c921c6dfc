/**
 * Issue 12: a stock Java FTPS client (Apache Commons Net's FTPSClient, Debian's
 * libcommons-net-java) through ftpmasq to the plain ProFTPD. FTPSClient never resumes the control
 * connection's TLS session on its data connections, so under `--data-tls-reuse required` its
 * transfer is refused with a clear 522 (never a hang), and under `optional` it downloads intact,
 * the data-peer check still applied. The client is compiled by this test from
 * support/FtpsDownload.java with the JDK's javac.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FTP_PASSWORD, FTP_USER, LARGE_FILE, SAMPLE_FILE, figuresOf } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS, type RunResult } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { ProxyUnderTest } from './support/proxy-checks.js';

const JAVA = '/usr/bin/java';
const JAVAC = '/usr/bin/javac';
const COMMONS_NET = '/usr/share/java/commons-net.jar';
const SOURCE = fileURLToPath(new URL('./support/FtpsDownload.java', import.meta.url));

let env: E2eEnvironment | undefined;
let workDir: string | undefined;
const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const proxy = new ProxyUnderTest(requireEnv);

function requireWorkDir(): string {
  if (workDir === undefined) throw new Error('no work directory (see the beforeAll error)');
  return workDir;
}

beforeAll(async () => {
  const missing = [
    [JAVA, 'openjdk-17-jdk-headless'],
    [JAVAC, 'openjdk-17-jdk-headless'],
    [COMMONS_NET, 'libcommons-net-java'],
  ].filter(([path]) => path === undefined || !existsSync(path));
  if (missing.length > 0) {
    throw new Error(`the Java FTPS test needs ${missing.map(([path, pkg]) => `${path} (Debian: ${pkg})`).join(', ')}`);
  }
  env = await setUpEnvironment();
  workDir = mkdtempSync(join(tmpdir(), 'fmq-e2e-java-'));
  execFileSync(
    env.tools.openssl,
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${PUBLIC_ADDRESS}`,
      '-keyout', join(workDir, 'key.pem'), '-out', join(workDir, 'cert.pem')],
    { stdio: 'ignore' },
  );
  execFileSync(JAVAC, ['-cp', COMMONS_NET, '-d', workDir, SOURCE], { stdio: 'pipe' });
}, 120_000);

afterAll(async () => {
  try {
    await proxy.stop();
  } finally {
    if (workDir !== undefined) rmSync(workDir, { recursive: true, force: true });
    await env?.teardown();
  }
});

function startWithReuse(reuse: 'required' | 'optional'): Promise<unknown> {
  const dir = requireWorkDir();
  return proxy.start(['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'), '--data-tls-reuse', reuse]);
}

/** FtpsDownload in the client namespace: its exit code and the last reply it printed. */
async function javaDownload(remote: string, local: string): Promise<{ run: RunResult; reply: string }> {
  const { topology } = requireEnv();
  const run = await topology.exec(
    topology.client.namespace,
    JAVA,
    ['-cp', `${requireWorkDir()}:${COMMONS_NET}`, 'FtpsDownload', PUBLIC_ADDRESS, '21', FTP_USER, FTP_PASSWORD, remote, local],
    { timeoutMs: 60_000 },
  );
  const output = run.stdout.toString('utf8');
  return { run, reply: /^reply (.*)$/m.exec(output)?.[1] ?? output };
}

describe('Apache Commons Net FTPSClient (never resumes TLS sessions on data connections)', () => {
  it('--data-tls-reuse required: its transfer gets 522, clearly and at once (no hang), and no byte', async () => {
    await startWithReuse('required');
    const local = join(requireWorkDir(), 'refused.txt');
    const { run, reply } = await javaDownload(SAMPLE_FILE, local);
    expect(run.timedOut).toBe(false);
    expect(run.code, `${reply}\n${run.stderr}`).toBe(3);
    expect(reply).toMatch(/^522 /);
    expect(existsSync(local) ? (await figuresOf(local, SAMPLE_FILE)).size : 0).toBe(0);
    expect((await proxy.metrics()).value('ftpmasq_tls_handshakes_total{side="client_data",result="not_resumed"}')).toBeGreaterThanOrEqual(1);
  });

  it.each([SAMPLE_FILE, LARGE_FILE])('--data-tls-reuse optional: downloads %s intact', async (name) => {
    await startWithReuse('optional');
    const local = join(requireWorkDir(), `java-${name}`);
    const { run, reply } = await javaDownload(name, local);
    expect(run.code, `${reply}\n${run.stderr}`).toBe(0);
    expect(reply).toMatch(/^226 /);
    const expected = requireEnv().proftpd.fixtures.get(name);
    expect(await figuresOf(local, name)).toEqual(expected);
  });
});
