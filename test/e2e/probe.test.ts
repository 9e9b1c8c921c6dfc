/**
 * Issue 6: `ftpmasq probe` against the real ProFTPD in the namespace topology, from where a user
 * would stand.
 *
 * - Unfixed ProFTPD (no MasqueradeAddress) behind the plain 1:1 NAT, probed from a client host on
 *   the public LAN: the 227 names 10.0.11.251, which the client cannot reach (ENETUNREACH), while
 *   the same port at 203.0.113.10 works through the NAT: NEEDS FTPMASQ, exit 1. Then each command
 *   line the probe recommends is run as printed, and the probe, run again, says FINE (exit 0).
 * - The same server probed from the gateway, on its own network: the 227 names the address the
 *   probe connected to and works from there, so FINE (exit 0), with the note that the address is
 *   private and clients through NAT see otherwise. "Fine" is always "fine from where you stand".
 * - ProFTPD with `MasqueradeAddress 203.0.113.10` behind the same NAT, probed from the client
 *   host: the 227 names 203.0.113.10 and data works: FINE, exit 0.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH } from '../helpers/ftpmasq-process.js';
import { PUBLIC_ADDRESS, type RunResult, SERVER_ADDRESS, waitForFtpBanner } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';

const URL_PUBLIC = `ftp://scott:tiger@${PUBLIC_ADDRESS}`;
const URL_PRIVATE = `ftp://scott:tiger@${SERVER_ADDRESS}`;
const PROBE_TIMEOUT_MS = 60_000;

interface ProbeJson {
  readonly run: {
    readonly complete: boolean;
    readonly observations?: {
      readonly controlAddress: string;
      readonly pasv: { readonly outcome: string; readonly advertised?: { readonly host: string; readonly port: number } };
      readonly dataToAdvertised: { readonly outcome: string; readonly error?: string };
      readonly dataToControl: { readonly outcome: string };
      readonly epsv: { readonly outcome: string };
      readonly epsvData: { readonly outcome: string };
    };
  };
  readonly diagnosis: {
    readonly verdict: string;
    readonly exitCode: number;
    readonly problems: readonly string[];
    readonly notes: readonly string[];
    readonly recommendation?: {
      readonly primary: { readonly argv: readonly string[] };
      readonly alternative?: { readonly argv: readonly string[] };
      readonly serverFix?: string;
    };
  };
}

function describeResult(result: RunResult): string {
  return `${result.command} -> exit ${result.code ?? result.signal}\n--- stdout ---\n${result.stdout.toString('utf8')}\n--- stderr ---\n${result.stderr}`;
}

async function probe(env: E2eEnvironment, namespace: string, url: string, json: boolean): Promise<RunResult> {
  const args = [CLI_PATH, 'probe', ...(json ? ['--json'] : []), url];
  return env.topology.exec(namespace, process.execPath, args, { timeoutMs: PROBE_TIMEOUT_MS });
}

async function probeJson(env: E2eEnvironment, namespace: string, url: string): Promise<{ result: RunResult; report: ProbeJson }> {
  const result = await probe(env, namespace, url, true);
  let report: ProbeJson;
  try {
    // The probe's own JSON; the test reads only the fields declared above and checks each.
    report = JSON.parse(result.stdout.toString('utf8')) as ProbeJson;
  } catch {
    throw new Error(`the probe did not print JSON\n${describeResult(result)}`);
  }
  return { result, report };
}

/** A recommended command line (`npx ftpmasq ...`), run as printed with the built CLI, in the gateway namespace. */
async function runRecommendation(env: E2eEnvironment, argv: readonly string[]): Promise<{ stop: () => Promise<void>; output: () => string }> {
  expect(argv.slice(0, 2)).toEqual(['npx', 'ftpmasq']);
  const { tools, topology } = env;
  const child: ChildProcess = spawn(tools.ip, [...topology.execArgs(topology.gateway), process.execPath, CLI_PATH, ...argv.slice(2)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    // Seen from the client host, the way the probe will see it.
    await waitForFtpBanner(tools.ip, topology.execArgs(topology.client.namespace), PUBLIC_ADDRESS, 21, 15_000);
  } catch (error) {
    await stop();
    throw new Error(`${argv.join(' ')} did not come up: ${String(error)}\n${output}`);
  }
  return { stop, output: () => output };
}

describe('unfixed ProFTPD (227 names 10.0.11.251)', () => {
  let env: E2eEnvironment | undefined;
  const requireEnv = (): E2eEnvironment => {
    if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
    return env;
  };

  beforeAll(async () => {
    env = await setUpEnvironment();
  });

  afterAll(async () => {
    await env?.teardown();
  });

  describe('probed from a client host through the plain 1:1 NAT', () => {
    let first: { result: RunResult; report: ProbeJson } | undefined;

    beforeAll(async () => {
      await requireEnv().topology.setNat('one-to-one');
      first = await probeJson(requireEnv(), requireEnv().topology.client.namespace, URL_PUBLIC);
    });

    it('sees the private 227, a failed dial to it and a working dial to the control address; exits 1', () => {
      if (first === undefined) throw new Error('no probe run');
      const { result, report } = first;
      expect(result.code, describeResult(result)).toBe(1);
      const observations = report.run.observations;
      expect(observations?.controlAddress).toBe(PUBLIC_ADDRESS);
      expect(observations?.pasv.advertised?.host).toBe(SERVER_ADDRESS);
      // No route from the public LAN to 10.0.11.0/24: it fails at once, as in the field.
      expect(observations?.dataToAdvertised).toEqual(expect.objectContaining({ outcome: 'connect-failed', error: 'ENETUNREACH' }));
      expect(observations?.dataToControl.outcome).toBe('ok');
      expect(observations?.epsv.outcome).toBe('ok');
      expect(observations?.epsvData.outcome).toBe('ok');
      expect(report.diagnosis).toEqual(
        expect.objectContaining({ verdict: 'needs-ftpmasq', exitCode: 1, problems: ['advertises-private-address'] }),
      );
      expect(report.diagnosis.recommendation?.serverFix).toMatch(/^ProFTPD: MasqueradeAddress 203\.0\.113\.10 /);
    });

    it('prints the table and the verdict for a person', async () => {
      const result = await probe(requireEnv(), requireEnv().topology.client.namespace, URL_PUBLIC, false);
      const text = result.stdout.toString('utf8');
      expect(result.code, describeResult(result)).toBe(1);
      expect(text).toMatch(/^ {2}PASV {18}227 Entering Passive Mode \(10,0,11,251,\d+,\d+\)\.$/m);
      expect(text).toMatch(/^ {2}227 address {11}10\.0\.11\.251 \(private, not routable on the Internet\); NOT the control address 203\.0\.113\.10$/m);
      expect(text).toMatch(/^ {2}data to 227 address {3}10\.0\.11\.251:\d+ {2}FAILED: ENETUNREACH$/m);
      expect(text).toMatch(/^ {2}data to control addr {2}203\.0\.113\.10:\d+ {2}ok \(LIST: 226 /m);
      expect(text).toMatch(/^verdict: NEEDS FTPMASQ: /m);
      expect(text).toContain(
        '  npx ftpmasq --listen 0.0.0.0:21 --upstream 10.0.11.251:21 --public-address 203.0.113.10 --passive-ports 60000-60999\n',
      );
      expect(text).not.toContain('tiger');
    });

    it('the recommended relay-mode command line, run as printed, makes the server FINE', async () => {
      const argv = first?.report.diagnosis.recommendation?.primary.argv;
      if (argv === undefined) throw new Error('no recommendation');
      const environment = requireEnv();
      // ftpmasq takes port 21 and brings its own passive ports: no NAT to the server any more.
      await environment.topology.setNat('off');
      const ftpmasq = await runRecommendation(environment, argv);
      try {
        const { result, report } = await probeJson(environment, environment.topology.client.namespace, URL_PUBLIC);
        expect(result.code, `${describeResult(result)}\n--- ftpmasq ---\n${ftpmasq.output()}`).toBe(0);
        expect(report.run.observations?.pasv.advertised?.host).toBe(PUBLIC_ADDRESS);
        expect(report.diagnosis.verdict).toBe('fine');
      } finally {
        await ftpmasq.stop();
      }
    });

    it('the recommended rewrite-mode alternative, run as printed, makes the server FINE too', async () => {
      const argv = first?.report.diagnosis.recommendation?.alternative?.argv;
      if (argv === undefined) throw new Error('no alternative recommendation');
      expect(argv).toContain('rewrite');
      const environment = requireEnv();
      // Rewrite mode: ftpmasq owns port 21, the NAT keeps forwarding the server's passive ports.
      await environment.topology.setNat('passive-only');
      const ftpmasq = await runRecommendation(environment, argv);
      try {
        const { result, report } = await probeJson(environment, environment.topology.client.namespace, URL_PUBLIC);
        expect(result.code, `${describeResult(result)}\n--- ftpmasq ---\n${ftpmasq.output()}`).toBe(0);
        expect(report.run.observations?.pasv.advertised?.host).toBe(PUBLIC_ADDRESS);
        expect(report.diagnosis.verdict).toBe('fine');
      } finally {
        await ftpmasq.stop();
      }
    });
  });

  describe('probed from the gateway, on the server\'s own network', () => {
    it('the 227 names the address it connected to and works from there: FINE, exit 0, with a note to probe the public address', async () => {
      const environment = requireEnv();
      await environment.topology.setNat('off');
      const { result, report } = await probeJson(environment, environment.topology.gateway, URL_PRIVATE);
      expect(result.code, describeResult(result)).toBe(0);
      expect(report.run.observations?.pasv.advertised?.host).toBe(SERVER_ADDRESS);
      expect(report.run.observations?.dataToAdvertised.outcome).toBe('ok');
      expect(report.diagnosis.verdict).toBe('fine');
      expect(report.diagnosis.notes.join('\n')).toMatch(/10\.0\.11\.251 is private, not routable on the Internet.*probe that address too/);
    });
  });
});

describe('ProFTPD fixed with MasqueradeAddress 203.0.113.10', () => {
  let env: E2eEnvironment | undefined;

  beforeAll(async () => {
    env = await setUpEnvironment({ masqueradeAddress: PUBLIC_ADDRESS });
    await env.topology.setNat('one-to-one');
  });

  afterAll(async () => {
    await env?.teardown();
  });

  it('probed from a client host through the 1:1 NAT: the 227 names 203.0.113.10 and data works: FINE, exit 0', async () => {
    if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
    const { result, report } = await probeJson(env, env.topology.client.namespace, URL_PUBLIC);
    expect(result.code, describeResult(result)).toBe(0);
    expect(report.run.observations?.pasv.advertised?.host).toBe(PUBLIC_ADDRESS);
    expect(report.run.observations?.dataToAdvertised.outcome).toBe('ok');
    expect(report.diagnosis).toEqual(expect.objectContaining({ verdict: 'fine', exitCode: 0, problems: [] }));
    expect(report.diagnosis.recommendation).toBeUndefined();
    const text = await probe(env, env.topology.client.namespace, URL_PUBLIC, false);
    expect(text.code).toBe(0);
    expect(text.stdout.toString('utf8')).toMatch(/^verdict: FINE: /m);
  });
});
