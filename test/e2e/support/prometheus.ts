/**
 * A real Prometheus (Debian's `prometheus` package) and its `promtool`, for the observability tests:
 * Prometheus runs inside a namespace the test made (the gateway's, where ftpmasq's metrics listener is),
 * listens on that namespace's loopback, and is queried through its HTTP API by curl run in the same
 * namespace. Every wait is bounded; `stop()` is idempotent (SIGTERM, then SIGKILL).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunResult, type Topology, run } from '../../helpers/topology.js';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const DEPLOY_DIR = join(REPO_ROOT, 'deploy', 'prometheus');
export const RULES_FILE = join(DEPLOY_DIR, 'ftpmasq-rules.yml');
export const RULES_TEST_FILE = join(DEPLOY_DIR, 'ftpmasq-rules.test.yml');
export const SCRAPE_CONFIG_FILE = join(DEPLOY_DIR, 'prometheus.yml');

const INSTALL_HINT = 'apt-get install prometheus (Debian 12; the package ships both prometheus and promtool)';
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const CURL_TIMEOUT_S = 5;
const SEARCH_DIRECTORIES = ['/usr/bin', '/usr/local/bin', '/usr/sbin', '/bin'];

export interface PrometheusTools {
  readonly prometheus: string;
  readonly promtool: string;
}

function findProgram(program: string): string | undefined {
  const directories = [...(process.env['PATH'] ?? '').split(delimiter).filter((dir) => dir !== ''), ...SEARCH_DIRECTORIES];
  return directories
    .map((dir) => join(dir, program))
    .find((path) => {
      try {
        accessSync(path, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** Resolves prometheus and promtool, or throws one error with the package to install. */
export function requirePrometheusTools(): PrometheusTools {
  const prometheus = findProgram('prometheus');
  const promtool = findProgram('promtool');
  if (prometheus === undefined || promtool === undefined) {
    const missing = [prometheus === undefined ? 'prometheus' : '', promtool === undefined ? 'promtool' : ''].filter(Boolean);
    throw new Error(`missing ${missing.join(' and ')}: ${INSTALL_HINT}`);
  }
  return { prometheus, promtool };
}

/** promtool with its arguments; stdin for `check metrics`. Never throws for a non-zero exit. */
export function promtool(tools: PrometheusTools, args: readonly string[], stdin?: string): Promise<RunResult> {
  return run(tools.promtool, args, { timeoutMs: 30_000, ...(stdin === undefined ? {} : { stdin }) });
}

/** One sample of an instant vector: its labels (with `__name__`) and its value. */
export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PrometheusServer {
  readonly url: string;
  /** An instant query through /api/v1/query; throws on an API error. */
  query(expression: string): Promise<Sample[]>;
  /** GET a path of the HTTP API (e.g. /api/v1/rules) and return its parsed `data`. */
  api(path: string): Promise<unknown>;
  output(): string;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  readonly tools: PrometheusTools;
  readonly topology: Topology;
  readonly ipTool: string;
  readonly curl: string;
  /** The namespace Prometheus runs in; its scrape target and its API are on that namespace's loopback. */
  readonly namespace: string;
  readonly workDir: string;
  readonly listenPort: number;
  /** `host:port` of ftpmasq's metrics listener, as seen from inside the namespace. */
  readonly target: string;
  readonly scrapeIntervalSeconds: number;
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toSample(value: unknown): Sample {
  if (!isRecord(value) || !isRecord(value['metric']) || !Array.isArray(value['value'])) {
    throw new Error(`unexpected sample shape: ${JSON.stringify(value)}`);
  }
  const labels: Record<string, string> = {};
  for (const [key, text] of Object.entries(value['metric'])) {
    if (typeof text === 'string') labels[key] = text;
  }
  const text: unknown = value['value'][1];
  if (typeof text !== 'string') throw new Error(`unexpected sample value: ${JSON.stringify(value)}`);
  return { labels, value: Number(text) };
}

/** The test's own Prometheus config: ftpmasq's target every `interval`, with the deployed rules. */
export function renderTestConfig(target: string, intervalSeconds: number): string {
  return [
    'global:',
    `  scrape_interval: ${intervalSeconds}s`,
    `  evaluation_interval: ${intervalSeconds}s`,
    'rule_files:',
    `  - ${JSON.stringify(RULES_FILE)}`,
    'scrape_configs:',
    '  - job_name: ftpmasq',
    `    scrape_timeout: ${intervalSeconds}s`,
    '    static_configs:',
    `      - targets: [${JSON.stringify(target)}]`,
    '',
  ].join('\n');
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const { tools, topology, namespace } = options;
  await mkdir(join(options.workDir, 'tsdb'), { recursive: true });
  const configPath = join(options.workDir, 'prometheus.yml');
  await writeFile(configPath, renderTestConfig(options.target, options.scrapeIntervalSeconds));
  const check = await promtool(tools, ['check', 'config', configPath]);
  if (check.code !== 0) throw new Error(`promtool check config ${configPath} failed:\n${check.stdout.toString()}${check.stderr}`);

  const listen = `127.0.0.1:${options.listenPort}`;
  const url = `http://${listen}`;
  const child = spawn(
    options.ipTool,
    [
      ...topology.execArgs(namespace),
      tools.prometheus,
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${join(options.workDir, 'tsdb')}`,
      `--web.listen-address=${listen}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      if (await waitForExit(child, STOP_TIMEOUT_MS)) return;
      child.kill('SIGKILL');
      await waitForExit(child, STOP_TIMEOUT_MS);
    })();
    return stopping;
  };

  const curl = (path: string, extra: readonly string[] = []): Promise<RunResult> =>
    topology.exec(namespace, options.curl, ['--silent', '--show-error', '--max-time', String(CURL_TIMEOUT_S), ...extra, `${url}${path}`], {
      timeoutMs: (CURL_TIMEOUT_S + 5) * 1000,
    });

  const apiData = async (path: string, extra: readonly string[] = []): Promise<unknown> => {
    const result = await curl(path, extra);
    if (result.code !== 0) throw new Error(`${result.command}: exit ${result.code ?? result.signal}: ${result.stderr}`);
    const body: unknown = JSON.parse(result.stdout.toString('utf8'));
    if (!isRecord(body) || body['status'] !== 'success') {
      throw new Error(`Prometheus ${path} answered ${result.stdout.toString('utf8').slice(0, 500)}`);
    }
    return body['data'];
  };

  const server: PrometheusServer = {
    url,
    async query(expression) {
      const data = await apiData('/api/v1/query', ['-G', '--data-urlencode', `query=${expression}`]);
      if (!isRecord(data) || data['resultType'] !== 'vector' || !Array.isArray(data['result'])) {
        throw new Error(`query ${expression}: not an instant vector: ${JSON.stringify(data)}`);
      }
      return data['result'].map(toSample);
    },
    api: (path) => apiData(path),
    output: () => output,
    stop,
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) break;
    const ready = await curl('/-/ready', ['--output', '/dev/null', '--write-out', '%{http_code}']);
    last = `${ready.stdout.toString('utf8')} ${ready.stderr.trim()}`;
    if (ready.stdout.toString('utf8') === '200') return server;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stop();
  throw new Error(`Prometheus did not become ready on ${url} in namespace ${namespace} (last: ${last})\n${output}`);
}
