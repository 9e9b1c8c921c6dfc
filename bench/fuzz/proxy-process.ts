/**
 * The built CLI (dist/cli.js) as the process under test for the fuzzer and the soak: started
 * from a YAML config with several sites on 127.0.0.1 port 0, ready when it logs `ftpmasq ready`
 * (whose record names each site's listener and the metrics URL). What the tests watch is read
 * from outside, as an operator would: /proc/PID/fd and /proc/PID/status for descriptors and RSS,
 * /metrics for the sessions, the passive ports in use and the heap; stderr and the log records
 * for anything unhandled.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as stringifyYaml } from 'yaml';

const HERE = dirname(fileURLToPath(import.meta.url));
/** dist/cli.js from bench/fuzz (vitest) or from dist-bench/bench/fuzz (npm run fuzz). */
const CLI_CANDIDATES = [join(HERE, '..', '..', 'dist', 'cli.js'), join(HERE, '..', '..', '..', 'dist', 'cli.js')];
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** One site of the config: the keys are the flags in camelCase, as in a config file. */
export type SiteOptions = Readonly<Record<string, string | number>> & { readonly name: string };

export interface ProxySample {
  readonly fds: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Summed over the sites. */
  readonly sessionsActive: number;
  readonly passivePortsInUse: number;
}

type LogRecord = Readonly<Record<string, unknown>>;

function parseRecord(line: string): LogRecord | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? Object.fromEntries(Object.entries(value)) : undefined;
  } catch {
    return undefined;
  }
}

/** FTPMASQ_CLI names another build's cli.js to fuzz or soak; else this checkout's dist/cli.js. */
function cliPath(): string {
  const override = process.env['FTPMASQ_CLI'];
  if (override !== undefined && override !== '') return override;
  const found = CLI_CANDIDATES.find((candidate) => existsSync(candidate));
  if (found === undefined) throw new Error(`dist/cli.js does not exist (looked at ${CLI_CANDIDATES.join(', ')}): run \`npm run build\` first`);
  return found;
}

/** Whether the built CLI's --help lists `flag` (a key this build may not have yet). */
export function cliSupportsFlag(flag: string): boolean {
  const help = spawnSync(process.execPath, [cliPath(), '--help'], { encoding: 'utf8', timeout: 10_000 });
  return help.stdout.includes(`${flag} `);
}

/** `host:port` or `[v6]:port`, as the ready record names a listener. */
function parseEndpoint(text: string): Endpoint {
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon);
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port: Number(text.slice(colon + 1)) };
}

/** Sums every sample of `name` in a Prometheus text exposition (all label sets). */
export function sumMetric(exposition: string, name: string): number {
  let sum = 0;
  let seen = false;
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) {
      sum += value;
      seen = true;
    }
  }
  return seen ? sum : Number.NaN;
}

export class ProxyProcess {
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    /** Lines of stderr (the CLI writes there only for a bad start or something unhandled). */
    readonly stderrLines: readonly string[],
    /** Log records at level fatal, and any whose message speaks of something unhandled. */
    readonly alarmingRecords: readonly LogRecord[],
    private readonly directory: string,
    readonly sites: ReadonlyMap<string, Endpoint>,
    private readonly metricsUrl: string,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  static async start(sites: readonly SiteOptions[], options: { logLevel?: string } = {}): Promise<ProxyProcess> {
    const directory = mkdtempSync(join(tmpdir(), 'ftpmasq-fuzz-'));
    const configPath = join(directory, 'ftpmasq.yaml');
    // One process: the fuzzer and the soak sample one pid's descriptors and memory and read its ready line's metrics URL.
    const document = { logLevel: options.logLevel ?? 'info', metricsListen: '127.0.0.1:0', drainTimeout: '1s', workers: 1, sites };
    writeFileSync(configPath, stringifyYaml(document));
    const child = spawn(process.execPath, [cliPath(), '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    const stderrLines: string[] = [];
    const alarming: LogRecord[] = [];
    let ready: LogRecord | undefined;
    let partial = '';
    let onReady: (() => void) | undefined;
    child.stdout?.on('data', (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const record = parseRecord(line);
        if (record === undefined) {
          stderrLines.push(`[stdout, not JSON] ${line}`);
          continue;
        }
        const level = record['level'];
        const message = String(record['msg'] ?? '');
        // A hostile peer earns error lines ("upstream control connection failed"); a crash is fatal or unhandled.
        if (level === 'fatal' || /unhandled|uncaught|exception/i.test(message)) alarming.push(record);
        if (message === 'ftpmasq ready') {
          ready = record;
          onReady?.();
        }
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') stderrLines.push(line);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "ftpmasq ready" within ${READY_TIMEOUT_MS} ms\n${stderrLines.join('\n')}`)), READY_TIMEOUT_MS);
      onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`ftpmasq exited (${code ?? signal}) before it was ready\n${stderrLines.join('\n')}`));
      });
    });
    if (ready === undefined) throw new Error('unreachable: resolved without a ready record');
    const siteEndpoints = new Map<string, Endpoint>();
    const readySites = ready['sites'];
    if (Array.isArray(readySites)) {
      for (const site of readySites) {
        const record = parseRecord(JSON.stringify(site));
        const listen = record?.['listen'];
        const first = Array.isArray(listen) ? listen[0] : undefined;
        if (typeof record?.['name'] === 'string' && typeof first === 'string') siteEndpoints.set(record['name'], parseEndpoint(first));
      }
    }
    const metrics = ready['metrics'];
    if (typeof metrics !== 'string') throw new Error('the ready record names no metrics URL');
    return new ProxyProcess(child, stderrLines, alarming, directory, siteEndpoints, metrics);
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error('ftpmasq has no pid');
    return pid;
  }

  running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  exitDescription(): string {
    return `exit code ${this.child.exitCode ?? 'none'}, signal ${this.child.signalCode ?? 'none'}`;
  }

  site(name: string): Endpoint {
    const endpoint = this.sites.get(name);
    if (endpoint === undefined) throw new Error(`no site ${name} in the ready record`);
    return endpoint;
  }

  fdCount(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  rssBytes(): number {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return match === null ? Number.NaN : Number(match[1]) * 1024;
  }

  /** GET /metrics on a connection of its own that closes after: no keep-alive socket in the fd count. */
  metrics(): Promise<string> {
    return new Promise((resolve, reject) => {
      const request = http.get(this.metricsUrl, { agent: false, headers: { connection: 'close' } }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        response.on('error', reject);
      });
      request.on('error', reject);
    });
  }

  /** Descriptors are counted before /metrics is fetched, so the fetch's own connection is not among them. */
  async sample(): Promise<ProxySample> {
    const fds = this.fdCount();
    const exposition = await this.metrics();
    return {
      fds,
      rssBytes: this.rssBytes(),
      heapUsedBytes: sumMetric(exposition, 'ftpmasq_nodejs_heap_size_used_bytes'),
      sessionsActive: sumMetric(exposition, 'ftpmasq_sessions_active'),
      passivePortsInUse: sumMetric(exposition, 'ftpmasq_passive_ports_in_use'),
    };
  }

  /** SIGTERM, then SIGKILL after a bounded wait; removes the config directory. */
  async stop(): Promise<void> {
    if (this.running()) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.directory, { recursive: true, force: true });
  }
}
