/**
 * Reload and drain of one ftpmasq process started from a YAML config file alone (`ftpmasq --config FILE`),
 * site alpha on 203.0.113.10:21 in front of ProFTPD (relay mode, gateway NAT off), /metrics and /readyz on
 * 127.0.0.1:9464 inside the gateway namespace, drainTimeout 20s.
 *
 * - SIGHUP re-reads the file: a rate-limited 64 MiB download (legacy curl, ~4 s) runs while alpha's
 *   passivePorts change; it completes with the right SHA-256 on its old port, and the next session's 227
 *   names a port of the new range.
 * - SIGHUP with an invalid file (a bad passivePorts value; a YAML syntax error): the process keeps the
 *   configuration it had (a new download works, its 227 in the range in force before), and logs an
 *   error-level record about the config.
 * - SIGTERM during a rate-limited 64 MiB upload: the upload completes with the client's SHA-256 on the
 *   server; meanwhile a new control connection is refused (or gets 421) and /readyz answers 503; the
 *   process exits 0 within the drain timeout.
 *
 * The tests run in order against the same process; the last one ends it.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FtpClient, createClient, describeRun, pasvPortsOf } from '../helpers/clients.js';
import { type FtpmasqChild, type LogRecord, startFtpmasqWithConfig } from '../helpers/ftpmasq-process.js';
import { JAPANESE_FILE, LARGE_FILE, figuresOf } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS, type RunResult, SERVER_ADDRESS } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { dialFirstReply } from './support/first-reply.js';
import {
  type DaemonFileSpec,
  type SiteSpec,
  inRange,
  portRange,
  renderConfig,
  writeConfig,
  writeConfigText,
} from './support/site-config.js';

const LOG_TAIL_LINES = 80;
const METRICS_LISTEN = '127.0.0.1:9464';
const DRAIN_TIMEOUT_MS = 20_000;
/** 64 MiB at 16 MiB/s: about 4 s, long enough to reload or drain in the middle of it. */
const LIMIT_RATE = '16M';
/** How far a rate-limited transfer must be before the signal: under way, and far from done. */
const UNDER_WAY_BYTES = 4 * 1024 * 1024;
const UNDER_WAY_TIMEOUT_MS = 15_000;
const RELOAD_LOG_TIMEOUT_MS = 5_000;
const ERROR_LOG_TIMEOUT_MS = 5_000;
const READYZ_TIMEOUT_MS = 10_000;
const POLL_MS = 100;
/** pino's level numbers. */
const LEVEL_ERROR = 50;

const OLD_PORTS = '60000-60499';
const NEW_PORTS = '61000-61499';

const ALPHA: SiteSpec = {
  name: 'alpha',
  listen: `${PUBLIC_ADDRESS}:21`,
  upstream: `${SERVER_ADDRESS}:21`,
  publicAddress: PUBLIC_ADDRESS,
  passivePorts: OLD_PORTS,
  mode: 'relay',
};

function configWith(site: SiteSpec): DaemonFileSpec {
  return { metricsListen: METRICS_LISTEN, logLevel: 'info', drainTimeout: `${DRAIN_TIMEOUT_MS / 1000}s`, sites: [site] };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits (bounded) until the file at `path` holds at least `bytes`; false when it never did. */
async function waitForSize(path: string, bytes: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const size = await stat(path).then(
      (stats) => stats.size,
      () => 0,
    );
    if (size >= bytes) return true;
    await sleep(POLL_MS);
  }
  return false;
}

/** The run, and the moment it ended (performance.now()), whenever it is awaited. */
async function timed(run: Promise<RunResult>): Promise<{ readonly run: RunResult; readonly endedAt: number }> {
  const result = await run;
  return { run: result, endedAt: performance.now() };
}

/**
 * ftpmasq logs level names (`"level":"error"`); a number is pino's default form. Matching only
 * numbers, this found no record after a failed reload and let "no error records after a valid
 * reload" pass whatever was logged.
 */
function isErrorRecord(record: LogRecord): boolean {
  const level = record['level'];
  if (typeof level === 'number') return level >= LEVEL_ERROR;
  return level === 'error' || level === 'fatal';
}

describe('ftpmasq --config: SIGHUP reloads the file, SIGTERM drains', () => {
  let env: E2eEnvironment | undefined;
  let ftpmasq: FtpmasqChild | undefined;
  let configPath = '';

  const requireEnv = (): E2eEnvironment => {
    if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
    return env;
  };
  /** The process, which must still be running: an earlier test's signal may have ended it. */
  const requireFtpmasq = (): FtpmasqChild => {
    if (ftpmasq === undefined) throw new Error('ftpmasq was not started (see the beforeAll error)');
    if (!ftpmasq.running()) throw new Error(`ftpmasq is no longer running\n${logTail()}`);
    return ftpmasq;
  };
  const logTail = (): string => {
    if (ftpmasq === undefined) return '';
    const lines = ftpmasq.output().trimEnd().split('\n');
    return `--- ftpmasq ${ftpmasq.args.join(' ')} (${ftpmasq.running() ? 'running' : 'EXITED'}), last ${LOG_TAIL_LINES} lines ---\n${lines.slice(-LOG_TAIL_LINES).join('\n')}`;
  };
  const failure = (what: string, run?: RunResult): string => `${what}${run === undefined ? '' : `\n${describeRun(run)}`}\n${logTail()}`;
  const client = (limitRate?: string): FtpClient => {
    const { tools, topology } = requireEnv();
    const endpoint = { address: PUBLIC_ADDRESS, port: 21 };
    return createClient('curl-legacy', {
      tools,
      topology,
      host: topology.client,
      endpoint,
      ...(limitRate === undefined ? {} : { limitRate }),
    });
  };
  /** GET on the metrics listener, from inside the gateway namespace: the HTTP status, or curl's failure. */
  const readyz = async (): Promise<{ status: string; run: RunResult }> => {
    const { tools, topology } = requireEnv();
    const run = await topology.exec(
      topology.gateway,
      tools.curl,
      ['--silent', '--show-error', '--max-time', '3', '--output', '/dev/null', '--write-out', '%{http_code}', `http://${METRICS_LISTEN}/readyz`],
      { timeoutMs: 8_000 },
    );
    return { status: run.stdout.toString('utf8').trim(), run };
  };
  /** A small download through alpha: intact, and the one 227 port it used. */
  const downloadSmall = async (label: string): Promise<number> => {
    const { clientDir, proftpd } = requireEnv();
    const localPath = join(clientDir, `reload-${label}.jpg`);
    const run = await client().download(JAPANESE_FILE, localPath);
    expect(run.code, failure(`${label}: RETR ${JAPANESE_FILE} failed`, run)).toBe(0);
    expect(await figuresOf(localPath, JAPANESE_FILE), `${label}: client-side figures`).toEqual(proftpd.fixtures.get(JAPANESE_FILE));
    const ports = pasvPortsOf(run.stderr);
    expect(ports.length, failure(`${label}: no 227 in curl's trace`, run)).toBe(1);
    return ports[0] ?? 0;
  };
  /** Which of the file's two ranges a port is in. */
  const rangeName = (port: number): string =>
    inRange(port, portRange(OLD_PORTS)) ? OLD_PORTS : inRange(port, portRange(NEW_PORTS)) ? NEW_PORTS : `neither (${port})`;

  beforeAll(async () => {
    env = await setUpEnvironment();
    configPath = join(env.clientDir, '..', 'ftpmasq-reload.yaml');
    await writeConfig(configPath, configWith(ALPHA));
    ftpmasq = await startFtpmasqWithConfig({ tools: env.tools, topology: env.topology, configPath });
  });

  afterAll(async () => {
    try {
      await ftpmasq?.stop();
    } finally {
      await env?.teardown();
    }
  });

  it(`serves site alpha from the file alone: /readyz 200, the 227 names a port of ${OLD_PORTS}`, async () => {
    const deadline = performance.now() + READYZ_TIMEOUT_MS;
    let last = await readyz();
    while (last.status !== '200' && performance.now() < deadline) {
      await sleep(250);
      last = await readyz();
    }
    expect(last.status, failure('/readyz before any signal', last.run)).toBe('200');
    const port = await downloadSmall('baseline');
    expect(rangeName(port), `227 port ${port}`).toBe(OLD_PORTS);
  });

  it(`SIGHUP during a rate-limited 64 MiB download: it completes intact; the next session's 227 is in ${NEW_PORTS}`, async () => {
    const { clientDir, proftpd } = requireEnv();
    const proxy = requireFtpmasq();
    const expected = proftpd.fixtures.get(LARGE_FILE);
    if (expected === undefined) throw new Error(`no fixture ${LARGE_FILE}`);
    const localPath = join(clientDir, 'reload-during-download.bin');
    const download = timed(client(LIMIT_RATE).download(LARGE_FILE, localPath));
    const underWay = await waitForSize(localPath, UNDER_WAY_BYTES, UNDER_WAY_TIMEOUT_MS);

    const mark = proxy.logRecords.length;
    await writeConfig(configPath, configWith({ ...ALPHA, passivePorts: NEW_PORTS }));
    proxy.signal('SIGHUP');
    const signalledAt = performance.now();
    const reloaded = await proxy.waitForLog((record) => /reload|config/i.test(String(record['msg'])), RELOAD_LOG_TIMEOUT_MS, mark);
    console.log(`[e2e] SIGHUP: ${reloaded === undefined ? `no reload record within ${RELOAD_LOG_TIMEOUT_MS} ms` : JSON.stringify(reloaded)}`);

    const { run, endedAt: finishedAt } = await download;
    expect(underWay, failure(`the download never reached ${UNDER_WAY_BYTES} bytes`, run)).toBe(true);
    expect(run.code, failure('the download across the reload failed', run)).toBe(0);
    expect(await figuresOf(localPath, LARGE_FILE), 'client-side figures of the download across the reload').toEqual(expected);
    console.log(`[e2e] 64 MiB download at ${LIMIT_RATE}/s: ${run.durationMs} ms, ${Math.round(finishedAt - signalledAt)} ms of it after SIGHUP`);
    expect(finishedAt - signalledAt, 'the download must still have been running at the SIGHUP').toBeGreaterThan(500);
    const [oldPort] = pasvPortsOf(run.stderr);
    expect(rangeName(oldPort ?? 0), failure('the running download kept its port of the old range', run)).toBe(OLD_PORTS);

    expect(proxy.running(), logTail()).toBe(true);
    expect(proxy.logRecords.slice(mark).filter(isErrorRecord), failure('error records after a valid reload')).toEqual([]);
    const port = await downloadSmall('after-reload');
    expect(rangeName(port), failure(`227 port ${port} of the session after the reload`)).toBe(NEW_PORTS);
  });

  const invalidFiles: readonly { readonly title: string; readonly text: () => string; readonly mentions: RegExp }[] = [
    {
      title: 'a passivePorts value that is no port range',
      text: () => renderConfig(configWith({ ...ALPHA, passivePorts: '62000-99999' })),
      mentions: /passivePorts|config/i,
    },
    {
      title: 'a YAML syntax error',
      // A valid-looking change (another range) that must not be taken, then a flow sequence left open.
      text: () => `${renderConfig(configWith({ ...ALPHA, passivePorts: '62000-62499' }))}extra: [unclosed\n`,
      mentions: /yaml|config|syntax|parse/i,
    },
  ];

  it.each(invalidFiles)('SIGHUP with $title keeps the configuration in force and logs an error', async ({ text, mentions }) => {
    const proxy = requireFtpmasq();
    const before = rangeName(await downloadSmall('before-invalid'));

    const mark = proxy.logRecords.length;
    await writeConfigText(configPath, text());
    proxy.signal('SIGHUP');
    const error = await proxy.waitForLog(isErrorRecord, ERROR_LOG_TIMEOUT_MS, mark);
    console.log(`[e2e] SIGHUP with an invalid file: ${error === undefined ? 'no error record' : JSON.stringify(error)}`);
    expect(error, failure(`no error-level record within ${ERROR_LOG_TIMEOUT_MS} ms of SIGHUP`)).toBeDefined();
    expect(JSON.stringify(error), 'the error record names the config problem').toMatch(mentions);

    expect(proxy.running(), logTail()).toBe(true);
    const after = rangeName(await downloadSmall('after-invalid'));
    expect(after, failure('the passive range after an invalid reload')).toBe(before);
  });

  it('SIGTERM during a rate-limited 64 MiB upload: it completes intact, new connections are refused, /readyz 503, exit 0', async () => {
    const { tools, topology, proftpd } = requireEnv();
    const proxy = requireFtpmasq();
    // The file on disk is the last invalid one: put a valid one back, though no reload reads it.
    await writeConfig(configPath, configWith({ ...ALPHA, passivePorts: NEW_PORTS }));
    const source = proftpd.fixtures.get(LARGE_FILE);
    if (source === undefined) throw new Error(`no fixture ${LARGE_FILE}`);
    const remoteName = 'drain-upload.bin';
    const storedPath = join(proftpd.root, remoteName);
    // The source is the server's own 64 MiB fixture: the namespaces share the file system.
    const upload = timed(client(LIMIT_RATE).upload(join(proftpd.root, LARGE_FILE), remoteName));
    const underWay = await waitForSize(storedPath, UNDER_WAY_BYTES, UNDER_WAY_TIMEOUT_MS);
    expect(underWay, failure(`the upload never reached ${UNDER_WAY_BYTES} bytes on the server`)).toBe(true);

    proxy.signal('SIGTERM');
    const signalledAt = performance.now();
    // Listeners close at once: a new control connection is refused, or answered 421 and closed.
    const newcomer = await dialFirstReply(tools, topology, topology.client, { address: PUBLIC_ADDRESS, port: 21 }, 5_000);
    const health = await readyz();
    const runningDuringDrain = proxy.running();
    console.log(`[e2e] during the drain: new connection ${JSON.stringify(newcomer.reply)}, /readyz ${health.status || health.run.stderr.trim()}`);

    const { run, endedAt: uploadDoneAt } = await upload;
    const exit = await proxy.waitForExit(DRAIN_TIMEOUT_MS + 10_000);
    console.log(
      `[e2e] drain: upload ended ${Math.round(uploadDoneAt - signalledAt)} ms after SIGTERM; exit ${JSON.stringify(exit)} after SIGTERM`,
    );

    expect(run.code, failure('the upload across SIGTERM failed', run)).toBe(0);
    const stored = await figuresOf(storedPath, remoteName);
    expect({ size: stored.size, sha256: stored.sha256 }, 'server-side figures of the upload across SIGTERM').toEqual({
      size: source.size,
      sha256: source.sha256,
    });
    const refused =
      newcomer.reply.outcome === 'refused' || (newcomer.reply.outcome === 'reply' && /^421[ -]/.test(newcomer.reply.line));
    expect(refused, failure(`a new connection during the drain got ${JSON.stringify(newcomer.reply)}`, newcomer.run)).toBe(true);
    expect(health.status, failure('/readyz during the drain', health.run)).toBe('503');
    expect(runningDuringDrain, failure('ftpmasq exited before the upload had finished')).toBe(true);
    expect(uploadDoneAt - signalledAt, 'the upload must still have been running at the SIGTERM').toBeGreaterThan(500);
    expect(exit, failure(`no exit within ${DRAIN_TIMEOUT_MS + 10_000} ms of SIGTERM`)).toEqual({ code: 0, signal: null, elapsedMs: expect.any(Number) });
    expect(exit?.elapsedMs ?? Infinity, failure('exit after the drain timeout')).toBeLessThan(DRAIN_TIMEOUT_MS);
  });
});
