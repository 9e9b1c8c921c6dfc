/**
 * What the issue-4 e2e files (EPSV modes, active mode, bounce, IPv6) share: one ftpmasq at a time in the
 * gateway namespace, transfers checked by size and SHA-256 on both ends with a per-client check of the
 * control dialogue, and ftpmasq's own evidence (its JSON log, its /metrics counters).
 */
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { type AcceptRecorder, type FtpClient, describeRun, startAcceptRecorder } from '../../helpers/clients.js';
import { type FtpmasqProcess, startFtpmasq } from '../../helpers/ftpmasq-process.js';
import { LARGE_FILE, SAMPLE_FILE, figuresOf } from '../../helpers/proftpd.js';
import type { ClientHost, RunResult } from '../../helpers/topology.js';
import { type Figures, printFigures } from './client-matrix.js';
import type { E2eEnvironment } from './environment.js';

const LOG_TAIL_LINES = 60;
/** ftpmasq's default --metrics-listen, inside the gateway namespace. */
const METRICS_URL = 'http://127.0.0.1:9464/metrics';

/** One ftpmasq (relay mode) at a time; `start` stops the previous one first. */
export class ProxyUnderTest {
  private current: FtpmasqProcess | undefined;

  constructor(private readonly getEnv: () => E2eEnvironment) {}

  async start(extraArgs: readonly string[]): Promise<FtpmasqProcess> {
    await this.stop();
    const env = this.getEnv();
    this.current = await startFtpmasq({ tools: env.tools, topology: env.topology, mode: 'relay', extraArgs });
    return this.current;
  }

  async stop(): Promise<void> {
    const proxy = this.current;
    this.current = undefined;
    if (proxy === undefined) return;
    const exit = await proxy.stop();
    if (exit.code !== 0) throw new Error(`ftpmasq exited ${exit.code ?? exit.signal} on SIGTERM\n${tailOf(proxy)}`);
  }

  get process(): FtpmasqProcess {
    if (this.current === undefined) throw new Error('ftpmasq is not running (see the beforeAll error)');
    return this.current;
  }

  /** The last lines of ftpmasq's output, for failure messages. */
  logTail(): string {
    return this.current === undefined ? '(ftpmasq not running)' : tailOf(this.current);
  }

  /** ftpmasq's log records with this `msg`, in order. */
  records(message: string): readonly Readonly<Record<string, unknown>>[] {
    return this.process.logRecords.filter((record) => record['msg'] === message);
  }

  /** One sample of /metrics, fetched with curl inside the gateway namespace. */
  async metrics(): Promise<MetricsSample> {
    const { tools, topology } = this.getEnv();
    const run = await topology.exec(topology.gateway, tools.curl, ['--silent', '--show-error', '--max-time', '5', METRICS_URL]);
    if (run.code !== 0) throw new Error(`GET ${METRICS_URL} in the gateway failed\n${describeRun(run)}`);
    return new MetricsSample(run.stdout.toString('utf8'));
  }
}

function tailOf(proxy: FtpmasqProcess): string {
  const lines = proxy.output().trimEnd().split('\n');
  return `--- ftpmasq ${proxy.args.join(' ')} (${proxy.running() ? 'running' : 'EXITED'}), last ${LOG_TAIL_LINES} lines ---\n${lines.slice(-LOG_TAIL_LINES).join('\n')}`;
}

export class MetricsSample {
  constructor(readonly text: string) {}

  /**
   * The value of one series, e.g. `ftpmasq_refusals_total{reason="bounce_foreign_host"}`; throws when
   * absent. Labels not named (the `site` label of the flags' one site) may be on the line too.
   */
  value(series: string): number {
    const wanted = /^([a-z_:]+)(?:\{(.*)\})?$/.exec(series);
    if (wanted === null) throw new Error(`not a series selector: ${series}`);
    const [, name = '', labelText = ''] = wanted;
    const labels = labelText === '' ? [] : labelText.split(',');
    for (const line of this.text.split('\n')) {
      const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (match === null || match[1] !== name) continue;
      const present = (match[2] ?? '').split(',');
      if (!labels.every((label) => present.includes(label))) continue;
      const value = Number(match[3]);
      if (Number.isFinite(value)) return value;
    }
    throw new Error(`no series ${series} in /metrics`);
  }
}

export function refusals(reason: string): string {
  return `ftpmasq_refusals_total{reason="${reason}"}`;
}

export interface TransferCase {
  readonly env: E2eEnvironment;
  readonly client: FtpClient;
  /** A label for figures and local file names, e.g. `epsv-translate`. */
  readonly label: string;
  /** What the control dialogue (curl --verbose or ftplib's trace, on stderr) must show. */
  checkTrace(run: RunResult): void;
  diagnostics(): string;
}

/**
 * Registers three tests: download sample.txt (12 bytes) and random-64MiB.bin, upload 5 MiB; sizes and
 * SHA-256 equal on both ends (the upload's on the server's disk), and the dialogue checked each time.
 */
export function itTransfersIntact(getCase: () => TransferCase, collected: Figures[]): void {
  const record = (testCase: TransferCase, figures: Omit<Figures, 'mode' | 'client'>): void => {
    const full: Figures = { mode: testCase.label, client: testCase.client.kind, ...figures };
    collected.push(full);
    printFigures(full);
  };
  const failure = (what: string, run: RunResult, testCase: TransferCase): string =>
    `${what}\n${describeRun(run)}\n${testCase.diagnostics()}`;

  it.each([SAMPLE_FILE, LARGE_FILE])('downloads %s intact', async (file) => {
    const testCase = getCase();
    const expected = testCase.env.proftpd.fixtures.get(file);
    if (expected === undefined) throw new Error(`no fixture ${file}`);
    const localPath = join(testCase.env.clientDir, `${testCase.label}-${testCase.client.kind}-${file}`);
    const run = await testCase.client.download(file, localPath);
    expect(run.code, failure(`RETR ${file} failed`, run, testCase)).toBe(0);
    testCase.checkTrace(run);
    const received = await figuresOf(localPath, file);
    expect(received, `client-side figures of ${file}`).toEqual(expected);
    record(testCase, { direction: 'download', file, size: received.size, sha256: received.sha256, ms: run.durationMs });
  });

  it('uploads 5 MiB intact (checked on the server disk)', async () => {
    const testCase = getCase();
    const remoteName = `upload-${testCase.label}-${testCase.client.kind}.bin`;
    const { upload } = testCase.env;
    const run = await testCase.client.upload(upload.path, remoteName);
    expect(run.code, failure(`STOR ${remoteName} failed`, run, testCase)).toBe(0);
    testCase.checkTrace(run);
    const stored = await figuresOf(join(testCase.env.proftpd.root, remoteName), remoteName);
    expect({ size: stored.size, sha256: stored.sha256 }, `server-side figures of ${remoteName}`).toEqual({
      size: upload.size,
      sha256: upload.sha256,
    });
    record(testCase, { direction: 'upload', file: remoteName, size: stored.size, sha256: stored.sha256, ms: run.durationMs });
  });
}

/** How long a bounce target keeps listening after the attempts, for a late connection to show up. */
const SETTLE_MS = 1_000;
const CONNECT_PROBE = `
import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
`;

/**
 * Runs the attempts while `host` listens on `address:port`, then proves the listener could be reached
 * from the gateway: returns the accepts before that proof (must be none) and the proof's own.
 */
export async function withListener(
  env: E2eEnvironment,
  host: ClientHost,
  address: string,
  port: number,
  attempts: () => Promise<void>,
): Promise<{ duringAttempts: readonly string[]; fromGatewayProbe: readonly string[] }> {
  const { tools, topology } = env;
  const recorder: AcceptRecorder = await startAcceptRecorder(tools, topology, host, address, port, 60);
  try {
    await attempts();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const duringAttempts = recorder.accepts();
    const probe = await topology.exec(topology.gateway, tools.python3, ['-c', CONNECT_PROBE, address, String(port)]);
    expect(probe.code, `the gateway cannot reach the listener: ${describeRun(probe)}`).toBe(0);
    const all = await recorder.stop();
    return { duringAttempts, fromGatewayProbe: all.slice(duringAttempts.length) };
  } finally {
    await recorder.stop();
  }
}

/** The reply lines of a run's trace that match, for assertions that read well in a failure. */
export function traceLines(run: RunResult, pattern: RegExp): readonly string[] {
  return run.stderr.split('\n').filter((line) => pattern.test(line));
}
