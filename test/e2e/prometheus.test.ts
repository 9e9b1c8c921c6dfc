/**
 * Observability end to end (issue 5).
 *
 * 1. promtool accepts the deployed scrape config and alert rules, the rules' own unit tests pass, and
 *    `promtool check metrics` accepts what /metrics serves (a daemon on loopback; no root needed).
 * 2. In the namespace topology: ftpmasq (relay mode) in the gateway in front of the real ProFTPD (no
 *    MasqueradeAddress), and a real Prometheus in the gateway scraping it every second. Legacy curl (PASV,
 *    dialling the 227 address) in the client namespace lists, downloads three files and uploads one; then
 *    Prometheus's query API must report exactly the PASV rewrites and data bytes that this traffic implies,
 *    counted from the clients' own traces and files, and ftpmasq's log must hold the one diagnosis warning
 *    that names MasqueradeAddress.
 */
import net from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/schema.js';
import { type RunningDaemon, start } from '../../src/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import { type FtpClient, createClient, describeRun } from '../helpers/clients.js';
import { type FtpmasqProcess, FTPMASQ_PASSIVE_PORTS, startFtpmasq } from '../helpers/ftpmasq-process.js';
import { JAPANESE_FILE, LARGE_FILE, SAMPLE_FILE, figuresOf } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS, type RunResult, SERVER_ADDRESS, isLiveRun } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import {
  type PrometheusServer,
  type PrometheusTools,
  RULES_FILE,
  RULES_TEST_FILE,
  SCRAPE_CONFIG_FILE,
  type Sample,
  promtool,
  requirePrometheusTools,
  startPrometheus,
} from './support/prometheus.js';

/** Both inside the gateway namespace, on its own loopback. */
const METRICS_PORT = 9464;
const PROMETHEUS_PORT = 9090;
const SCRAPE_INTERVAL_S = 1;
/** How long Prometheus may take to show what the traffic did: several scrapes, bounded. */
const CONVERGE_TIMEOUT_MS = 30_000;
/** The readiness check's 10 s interval, a scrape and a rule evaluation, with room to spare. */
const UPSTREAM_DOWN_TIMEOUT_MS = 30_000;
const POLL_MS = 500;
const RULE_COUNT = 8;
/** Log lines that belong to the process, not to a session. */
const PROCESS_MESSAGES = new Set([
  'ftpmasq ready',
  // The primary's, with workers (the default on a machine of several cores).
  'ftpmasq primary ready',
  'every worker ready',
  'shutting down every worker',
  'shutting down',
  'stopped',
  // At start, where the machine's hard fd limit (20,000 on CI) is below what the defaults can use.
  'open files limit holds fewer sessions than --max-sessions allows; raise the limit (systemd LimitNOFILE, docker --ulimit nofile, ulimit -n) or lower --max-sessions to sessionsWithinLimit',
]);

/** Prometheus data dirs that a crashed run left behind; a live run's stay. */
async function removeStaleWorkDirs(): Promise<void> {
  for (const name of await readdir(tmpdir())) {
    const owner = Number(/^fmq-prometheus-(\d+)-/.exec(name)?.[1]);
    if (Number.isInteger(owner) && !isLiveRun(owner)) await rm(join(tmpdir(), name), { recursive: true, force: true });
  }
}

function outputOf(result: RunResult): string {
  return `${result.stdout.toString('utf8')}${result.stderr}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

describe('promtool accepts the deployed Prometheus files and /metrics', () => {
  let tools: PrometheusTools | undefined;
  const requireTools = (): PrometheusTools => {
    tools ??= requirePrometheusTools();
    return tools;
  };

  it('promtool check config deploy/prometheus/prometheus.yml (and the rule file it names)', async () => {
    const result = await promtool(requireTools(), ['check', 'config', SCRAPE_CONFIG_FILE]);
    expect(result.code, outputOf(result)).toBe(0);
    expect(outputOf(result)).toContain(`SUCCESS: ${RULE_COUNT} rules found`);
  });

  it('promtool check rules deploy/prometheus/ftpmasq-rules.yml', async () => {
    const result = await promtool(requireTools(), ['check', 'rules', RULES_FILE]);
    expect(result.code, outputOf(result)).toBe(0);
    expect(outputOf(result)).toContain(`SUCCESS: ${RULE_COUNT} rules found`);
  });

  it('promtool test rules: each alert fires on its situation and not on ordinary traffic', async () => {
    const result = await promtool(requireTools(), ['test', 'rules', RULES_TEST_FILE]);
    expect(result.code, outputOf(result)).toBe(0);
    expect(outputOf(result)).toContain('SUCCESS');
  });

  it('promtool check metrics accepts /metrics of a daemon on loopback', async () => {
    const checker = requireTools();
    // A stand-in upstream on loopback, so /readyz has something to reach.
    const upstream = net.createServer((socket) => {
      // The readiness check connects and resets at once.
      socket.on('error', () => socket.destroy());
      socket.end('220 stand-in\r\n');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamAddress = upstream.address();
    if (upstreamAddress === null || typeof upstreamAddress === 'string') throw new Error('no upstream address');
    let daemon: RunningDaemon | undefined;
    try {
      const config = buildConfig({
        listen: '127.0.0.1:0',
        upstream: `127.0.0.1:${upstreamAddress.port}`,
        metricsListen: '127.0.0.1:0',
        passivePorts: '40000-40009',
        logLevel: 'silent',
      });
      daemon = await start(config, { logger: createLogger('silent') });
      // Some traffic-like values, so the histogram and labelled series carry data.
      const site = daemon.metrics.forSite('default');
      site.rewrite('pasv');
      site.dataConnection('passive', 0.003);
      site.dataBytes('to_client', 12);
      const metricsAddress = daemon.metricsAddress;
      if (metricsAddress === undefined) throw new Error('metrics listener is off');
      const response = await fetch(`http://127.0.0.1:${metricsAddress.port}/metrics`, { signal: AbortSignal.timeout(5000) });
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).toMatch(/^ftpmasq_rewrites_total\{site="default",kind="pasv"\} 1$/m);
      const result = await promtool(checker, ['check', 'metrics'], text);
      expect(result.code, outputOf(result)).toBe(0);
      expect(outputOf(result).trim(), 'promtool lint problems').toBe('');
    } finally {
      await daemon?.stop();
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    }
  });
});

/** What the traffic did, measured on the client side only. */
interface Traffic {
  readonly runs: RunResult[];
  pasvCommands: number;
  bytesToClient: number;
  bytesToServer: number;
}

/**
 * `name{a="x",b="y"}` without job and instance, and without `site="default"` (the one site the flags
 * describe; another site name stays and would match no expectation), for comparing against expectations.
 */
function seriesKey(sample: Sample): string {
  const { __name__: name = '', job: _job, instance: _instance, ...labels } = sample.labels;
  const inner = Object.keys(labels)
    .filter((key) => key !== 'site' || labels[key] !== 'default')
    .sort()
    .map((key) => `${key}="${labels[key] ?? ''}"`)
    .join(',');
  return inner === '' ? name : `${name}{${inner}}`;
}

describe('a real Prometheus scraping ftpmasq in front of ProFTPD', () => {
  let env: E2eEnvironment | undefined;
  let ftpmasq: FtpmasqProcess | undefined;
  let prometheus: PrometheusServer | undefined;
  let tools: PrometheusTools | undefined;
  let workDir: string | undefined;
  const traffic: Traffic = { runs: [], pasvCommands: 0, bytesToClient: 0, bytesToServer: 0 };

  const requireEnv = (): E2eEnvironment => {
    if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
    return env;
  };
  const requireFtpmasq = (): FtpmasqProcess => {
    if (ftpmasq === undefined) throw new Error('ftpmasq was not started (see the beforeAll error)');
    return ftpmasq;
  };
  const requirePrometheus = (): PrometheusServer => {
    if (prometheus === undefined) throw new Error('Prometheus was not started (see the beforeAll error)');
    return prometheus;
  };
  const diagnostics = (): string => {
    const tail = (text: string): string => text.trimEnd().split('\n').slice(-40).join('\n');
    return [
      ftpmasq === undefined ? '' : `--- ftpmasq (last 40 lines) ---\n${tail(ftpmasq.output())}`,
      prometheus === undefined ? '' : `--- prometheus (last 40 lines) ---\n${tail(prometheus.output())}`,
    ].join('\n');
  };
  const gatewayCurl = (url: string): Promise<RunResult> => {
    const { tools: e2eTools, topology } = requireEnv();
    return topology.exec(topology.gateway, e2eTools.curl, ['--silent', '--show-error', '--max-time', '5', url], { timeoutMs: 10_000 });
  };

  beforeAll(async () => {
    tools = requirePrometheusTools();
    env = await setUpEnvironment();
    ftpmasq = await startFtpmasq({
      tools: env.tools,
      topology: env.topology,
      mode: 'relay',
      extraArgs: ['--metrics-listen', `127.0.0.1:${METRICS_PORT}`],
    });
    // After setUpEnvironment, whose clean-up of crashed runs' fmq-e2e-* dirs must not see this one.
    await removeStaleWorkDirs();
    workDir = await mkdtemp(join(tmpdir(), `fmq-prometheus-${process.pid}-`));
    prometheus = await startPrometheus({
      tools,
      topology: env.topology,
      ipTool: env.tools.ip,
      curl: env.tools.curl,
      namespace: env.topology.gateway,
      workDir,
      listenPort: PROMETHEUS_PORT,
      target: `127.0.0.1:${METRICS_PORT}`,
      scrapeIntervalSeconds: SCRAPE_INTERVAL_S,
    });
  });

  afterAll(async () => {
    try {
      await prometheus?.stop();
      await ftpmasq?.stop();
    } finally {
      try {
        await env?.teardown();
      } finally {
        if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
      }
    }
  });

  it('Prometheus scrapes ftpmasq and loads the deployed alert rules', async () => {
    const server = requirePrometheus();
    let up: Sample[] = [];
    const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
    while (Date.now() < deadline) {
      up = await server.query('up{job="ftpmasq"}');
      if (up[0]?.value === 1) break;
      await sleep(POLL_MS);
    }
    expect(up.map((sample) => sample.value), diagnostics()).toEqual([1]);
    const rules = await server.api('/api/v1/rules');
    const text = JSON.stringify(rules);
    expect(text.match(/"type":"alerting"/g)?.length, text).toBe(RULE_COUNT);
    expect(text).not.toMatch(/"health":"(err|unknown)"/);
  });

  it('runs legacy transfers through ftpmasq: a listing, three downloads, one upload, checksums equal', async () => {
    const { tools: e2eTools, topology, proftpd, clientDir, upload } = requireEnv();
    const client: FtpClient = createClient('curl-legacy', {
      tools: e2eTools,
      topology,
      host: topology.client,
      endpoint: { address: PUBLIC_ADDRESS, port: 21 },
    });
    const record = (run: RunResult): void => {
      expect(run.code, `${describeRun(run)}\n${diagnostics()}`).toBe(0);
      traffic.runs.push(run);
      // curl --verbose traces each command it sends as "> PASV".
      traffic.pasvCommands += run.stderr.match(/^> PASV\r?$/gm)?.length ?? 0;
      expect(run.stderr).not.toMatch(/^> (EPSV|PORT|EPRT)/m);
    };

    const listing = await client.list();
    record(listing.run);
    expect(listing.listing).toContain(SAMPLE_FILE);
    // A listing travels in ASCII type, each line ending CRLF on the wire (RFC 959 section 3.1.1.1);
    // curl hands it over with LF endings, so the wire carried one more byte per line than stdout.
    const listingText = listing.run.stdout.toString('latin1');
    expect(listingText).not.toContain('\r');
    const listingWireBytes = listing.run.stdout.length + (listingText.match(/\n/g)?.length ?? 0);
    traffic.bytesToClient += listingWireBytes;

    for (const name of [SAMPLE_FILE, JAPANESE_FILE, LARGE_FILE]) {
      const local = join(clientDir, `prometheus-${name}`);
      record(await client.download(name, local));
      const expected = proftpd.fixtures.get(name);
      const got = await figuresOf(local, name);
      expect(got).toEqual(expected);
      traffic.bytesToClient += got.size;
    }

    const remoteName = 'prometheus-upload.bin';
    record(await client.upload(upload.path, remoteName));
    const stored = await figuresOf(join(proftpd.root, remoteName), upload.name);
    expect({ size: stored.size, sha256: stored.sha256 }).toEqual({ size: upload.size, sha256: upload.sha256 });
    traffic.bytesToServer += upload.size;

    expect(traffic.runs).toHaveLength(5);
    expect(traffic.pasvCommands).toBe(5);
    console.log(
      `[e2e figures] prometheus: ${traffic.runs.length} curl-legacy sessions, ${traffic.pasvCommands} PASV, ` +
        `to_client=${traffic.bytesToClient} bytes (listing ${listingWireBytes}), to_server=${traffic.bytesToServer} bytes`,
    );
  });

  it('Prometheus reports exactly the rewrites, bytes, sessions and data connections the traffic implies', async () => {
    const server = requirePrometheus();
    const sessions = traffic.runs.length;
    const expected: Record<string, number> = {
      'ftpmasq_rewrites_total{kind="pasv"}': traffic.pasvCommands,
      'ftpmasq_rewrites_total{kind="epsv"}': 0,
      'ftpmasq_rewrites_total{kind="port"}': 0,
      'ftpmasq_rewrites_total{kind="eprt"}': 0,
      'ftpmasq_data_bytes_total{direction="to_client"}': traffic.bytesToClient,
      'ftpmasq_data_bytes_total{direction="to_server"}': traffic.bytesToServer,
      'ftpmasq_data_connections_total{mode="passive"}': sessions,
      'ftpmasq_data_connections_total{mode="active"}': 0,
      'ftpmasq_data_connection_setup_seconds_count': sessions,
      ftpmasq_sessions_total: sessions,
      ftpmasq_sessions_active: 0,
      ftpmasq_passive_ports_in_use: 0,
      ftpmasq_passive_ports_capacity: 1000,
      ftpmasq_upstream_unroutable_pasv_total: traffic.pasvCommands,
      ftpmasq_ready: 1,
      'sum(ftpmasq_refusals_total)': 0,
      'sum(ftpmasq_upstream_errors_total)': 0,
    };
    expect(FTPMASQ_PASSIVE_PORTS).toBe('60000-60999');
    const observe = async (): Promise<Record<string, number | undefined>> => {
      const samples = await server.query('{__name__=~"ftpmasq_.+", job="ftpmasq"}');
      const byKey = new Map(samples.map((sample) => [seriesKey(sample), sample.value]));
      const sum = (prefix: string): number | undefined => {
        const values = [...byKey].filter(([key]) => key.startsWith(`${prefix}{`)).map(([, value]) => value);
        return values.length === 0 ? undefined : values.reduce((total, value) => total + value, 0);
      };
      const observed: Record<string, number | undefined> = {};
      for (const key of Object.keys(expected)) {
        const sumOf = /^sum\((\w+)\)$/.exec(key)?.[1];
        observed[key] = sumOf === undefined ? byKey.get(key) : sum(sumOf);
      }
      return observed;
    };
    let observed: Record<string, number | undefined> = {};
    const started = Date.now();
    while (Date.now() - started < CONVERGE_TIMEOUT_MS) {
      observed = await observe();
      if (Object.entries(expected).every(([key, value]) => observed[key] === value)) break;
      await sleep(POLL_MS);
    }
    console.log(
      `[e2e figures] prometheus converged in ${Date.now() - started} ms: ` +
        `rewrites{pasv}=${observed['ftpmasq_rewrites_total{kind="pasv"}']} ` +
        `bytes{to_client}=${observed['ftpmasq_data_bytes_total{direction="to_client"}']} ` +
        `bytes{to_server}=${observed['ftpmasq_data_bytes_total{direction="to_server"}']}`,
    );
    expect(observed, diagnostics()).toEqual(expected);
    // The same figures through PromQL the way a dashboard asks for them.
    const [pasv] = await server.query('sum(ftpmasq_rewrites_total{kind="pasv"})');
    expect(pasv?.value).toBe(traffic.pasvCommands);
  });

  it('logged the diagnosis warning naming MasqueradeAddress once per process (with workers, per worker), though every 227 was unroutable', () => {
    const records = requireFtpmasq().logRecords;
    const warnings = records.filter(
      (record) => record['level'] === 'warn' && typeof record['msg'] === 'string' && record['msg'].includes('MasqueradeAddress'),
    );
    // Once per process: with workers, once in each worker that relayed such a 227, never per session.
    const workers = warnings.map((record) => record['worker']);
    expect(warnings.length, diagnostics()).toBeGreaterThanOrEqual(1);
    expect(new Set(workers).size, diagnostics()).toBe(warnings.length);
    const [warning] = warnings;
    expect(warning?.['advertised']).toBe(SERVER_ADDRESS);
    expect(warning?.['msg']).toContain('pasv_address');
    expect(warning?.['msg']).toContain(SERVER_ADDRESS);
    expect(typeof warning?.['session']).toBe('string');
    expect(traffic.pasvCommands).toBeGreaterThan(1);
  });

  it('put a session id on every log line of a session, from "session start" to "session end"', () => {
    const records = requireFtpmasq().logRecords;
    const bySession = new Map<string, string[]>();
    for (const record of records) {
      const message = String(record['msg']);
      expect(typeof record['time'], message).toBe('string');
      expect(['debug', 'info', 'warn', 'error'], message).toContain(record['level']);
      const session = record['session'];
      if (typeof session !== 'string') {
        expect(PROCESS_MESSAGES.has(message), `a line without a session id: ${JSON.stringify(record)}`).toBe(true);
        continue;
      }
      bySession.set(session, [...(bySession.get(session) ?? []), message]);
    }
    expect(bySession.size).toBe(traffic.runs.length);
    for (const [session, messages] of bySession) {
      expect(messages[0], session).toBe('session start');
      expect(messages.at(-1), session).toBe('session end');
      expect(messages, session).toContain('passive reply relayed');
      expect(messages, session).toContain('data connection closed');
    }
  });

  it("promtool check metrics accepts ftpmasq's /metrics after real traffic; /healthz and /readyz answer", async () => {
    const checker = tools ?? requirePrometheusTools();
    const scraped = await gatewayCurl(`http://127.0.0.1:${METRICS_PORT}/metrics`);
    expect(scraped.code, scraped.stderr).toBe(0);
    const text = scraped.stdout.toString('utf8');
    expect(text).toMatch(/^ftpmasq_data_connection_setup_seconds_count\{site="default"\} [1-9]/m);
    const result = await promtool(checker, ['check', 'metrics'], text);
    expect(result.code, outputOf(result)).toBe(0);
    expect(outputOf(result).trim()).toBe('');
    expect((await gatewayCurl(`http://127.0.0.1:${METRICS_PORT}/healthz`)).stdout.toString()).toBe('ok\n');
    // With workers, a line per worker between the two.
    expect((await gatewayCurl(`http://127.0.0.1:${METRICS_PORT}/readyz`)).stdout.toString()).toMatch(/^ready\n(?:worker \d+ \(pid \d+\): ready\n)*config: [0-9a-f]{12}\n$/);
  });

  it('fires no alert on healthy traffic', async () => {
    const alerts = JSON.stringify(await requirePrometheus().api('/api/v1/alerts'));
    expect(alerts, alerts).toBe('{"alerts":[]}');
  });

  it('with the upstream down: /readyz 503, ftpmasq_ready 0, connect errors counted, FtpmasqUpstreamDown pending, a session gets 421', async () => {
    const { proftpd, tools: e2eTools, topology } = requireEnv();
    const server = requirePrometheus();
    await proftpd.stop();
    // The readiness check runs every 10 s; Prometheus scrapes every second and evaluates the rules.
    let pending = false;
    let ready: number | undefined;
    const deadline = Date.now() + UPSTREAM_DOWN_TIMEOUT_MS;
    while (Date.now() < deadline) {
      ready = (await server.query('ftpmasq_ready'))[0]?.value;
      const alerts = JSON.stringify(await server.api('/api/v1/alerts'));
      pending = alerts.includes('"alertname":"FtpmasqUpstreamDown"') && alerts.includes('"state":"pending"');
      if (ready === 0 && pending) break;
      await sleep(POLL_MS);
    }
    expect({ ready, pending }, diagnostics()).toEqual({ ready: 0, pending: true });
    const readyz = await topology.exec(
      topology.gateway,
      e2eTools.curl,
      ['--silent', '--max-time', '5', '--write-out', '%{http_code}', `http://127.0.0.1:${METRICS_PORT}/readyz`],
      { timeoutMs: 10_000 },
    );
    expect(readyz.stdout.toString('utf8')).toMatch(/^upstream unreachable: .+\n503$/s);

    const before = (await server.query('ftpmasq_upstream_errors_total{stage="connect"}'))[0]?.value ?? 0;
    expect(before).toBeGreaterThan(0);
    const client = createClient('curl-legacy', {
      tools: e2eTools,
      topology,
      host: topology.client,
      endpoint: { address: PUBLIC_ADDRESS, port: 21 },
    });
    const refused = await client.list();
    expect(refused.run.code, describeRun(refused.run)).not.toBe(0);
    expect(refused.run.stderr).toMatch(/^< 421 /m);
    // The 421 can reach curl before ftpmasq's stdout reaches this process: wait for the line.
    const isUnreachable = (record: Readonly<Record<string, unknown>>): boolean => record['msg'] === 'upstream unreachable';
    await requireFtpmasq().waitForLog(isUnreachable, 5_000);
    const unreachable = requireFtpmasq().logRecords.filter(isUnreachable);
    expect(unreachable).toHaveLength(1);
    expect(unreachable[0]).toMatchObject({ level: 'error' });
    expect(typeof unreachable[0]?.['session']).toBe('string');
  });

  it('Prometheus and ftpmasq stop cleanly', async () => {
    await requirePrometheus().stop();
    const exit = await requireFtpmasq().stop();
    expect(exit, diagnostics()).toEqual({ code: 0, signal: null });
  });
});
