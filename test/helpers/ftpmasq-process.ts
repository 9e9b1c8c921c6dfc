/**
 * The built ftpmasq CLI (dist/cli.js) as a child process in the gateway namespace: started with the
 * flags of a deployment ({@link startFtpmasq}), with any argv ({@link startFtpmasqWithArgs}) or with a
 * YAML config file ({@link startFtpmasqWithConfig}); ready when it logs `ftpmasq ready`, stopped with
 * SIGTERM. Signals (SIGHUP to reload, SIGTERM to drain), the exit and log records can be awaited, each
 * wait bounded.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as stringifyYaml } from 'yaml';
import type { E2eTools } from './prerequisites.js';
import { type Topology, PUBLIC_ADDRESS, SERVER_ADDRESS } from './topology.js';

export const CLI_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js');
/** ftpmasq's own passive range (relay mode), inside the server's so one NAT range covers both. */
export const FTPMASQ_PASSIVE_PORTS = '60000-60999';
const READY_MESSAGE = 'ftpmasq ready';
const ALL_WORKERS_READY_MESSAGE = 'every worker ready';
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

export type FtpmasqMode = 'relay' | 'rewrite' | 'kernel';

export interface FtpmasqExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}


/** An exit, and how long it came after the last {@link FtpmasqChild.signal} (or after the wait began). */
export interface FtpmasqExitReport extends FtpmasqExit {
  readonly elapsedMs: number;
}

export type LogRecord = Readonly<Record<string, unknown>>;

/** The process, however it was started. */
export interface FtpmasqChild {
  readonly args: readonly string[];
  /** Every stdout line that parsed as a JSON object (pino's output), in order. */
  readonly logRecords: readonly LogRecord[];
  /** stdout and stderr as they came, for failure messages. */
  output(): string;
  running(): boolean;
  /** Sends a signal now (SIGHUP: reload; SIGTERM: drain and exit). Does nothing once it has exited. */
  signal(name: NodeJS.Signals): void;
  /**
   * Resolves with the exit once the process has exited, or undefined when it is still running after
   * `timeoutMs`. `elapsedMs` counts from the last {@link signal} call, or from this call without one.
   */
  waitForExit(timeoutMs: number): Promise<FtpmasqExitReport | undefined>;
  /**
   * The first log record at index `fromIndex` or later (e.g. `logRecords.length` taken before a
   * signal) that satisfies `predicate`; undefined when none came within `timeoutMs` or the process
   * exited without one.
   */
  waitForLog(predicate: (record: LogRecord) => boolean, timeoutMs: number, fromIndex?: number): Promise<LogRecord | undefined>;
  /** SIGTERM, bounded wait (then SIGKILL, reported as such). Idempotent: the same exit every time. */
  stop(): Promise<FtpmasqExit>;
}

export interface FtpmasqProcess extends FtpmasqChild {
  readonly mode: FtpmasqMode;
}

export interface FtpmasqOptions {
  readonly tools: E2eTools;
  readonly topology: Topology;
  readonly mode: FtpmasqMode;
  readonly extraArgs?: readonly string[];
}

export interface FtpmasqArgsOptions {
  readonly tools: E2eTools;
  readonly topology: Topology;
  /** The whole argv after dist/cli.js. */
  readonly args: readonly string[];
}

export interface FtpmasqConfigOptions {
  readonly tools: E2eTools;
  readonly topology: Topology;
  /** A YAML config file; `--config FILE` is the only argument unless `extraArgs` adds more. */
  readonly configPath: string;
  readonly extraArgs?: readonly string[];
}

function isRecord(value: unknown): value is LogRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseRecord(line: string): LogRecord | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The child's output as it comes (stderr marked `[stderr]`), and every complete stdout line that
 * parses as a JSON object (pino's records), in order.
 */
function readOutput(child: ChildProcess, onText: (text: string) => void, onRecord: (record: LogRecord) => void): void {
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    onText(text);
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const record = parseRecord(line);
      if (record !== undefined) onRecord(record);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => onText(`[stderr] ${chunk.toString('utf8')}`));
}

function exitOf(child: ChildProcess): FtpmasqExit | undefined {
  if (child.exitCode === null && child.signalCode === null) return undefined;
  return { code: child.exitCode, signal: child.signalCode };
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<FtpmasqExit | undefined> {
  const exited = exitOf(child);
  if (exited !== undefined) return Promise.resolve(exited);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

/** The flags of the deployment the core tests use: 203.0.113.10:21 in front of ProFTPD on 10.0.11.251:21. */
export function startFtpmasq(options: FtpmasqOptions): Promise<FtpmasqProcess> {
  const { tools, topology, mode } = options;
  const args = [
    '--listen', `${PUBLIC_ADDRESS}:21`,
    '--upstream', `${SERVER_ADDRESS}:21`,
    '--public-address', PUBLIC_ADDRESS,
    '--passive-ports', FTPMASQ_PASSIVE_PORTS,
    '--mode', mode,
    ...(options.extraArgs ?? []),
  ];
  return startFtpmasqWithArgs({ tools, topology, args }).then((child) => ({ ...child, mode }));
}

/** `ftpmasq --config FILE`: every setting, the sites included, comes from the file. */
export function startFtpmasqWithConfig(options: FtpmasqConfigOptions): Promise<FtpmasqChild> {
  const { tools, topology, configPath } = options;
  return startFtpmasqWithArgs({ tools, topology, args: ['--config', configPath, ...(options.extraArgs ?? [])] });
}

export async function startFtpmasqWithArgs(options: FtpmasqArgsOptions): Promise<FtpmasqChild> {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} does not exist: run \`npm run build\` first (npm run test:e2e does it for you)`);
  }
  const { tools, topology, args } = options;
  const child = spawn(tools.ip, [...topology.execArgs(topology.gateway), process.execPath, CLI_PATH, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const records: LogRecord[] = [];
  /** Log waiters: each sees every new record and says whether it is done. */
  const watchers = new Set<(record: LogRecord | undefined) => boolean>();
  let output = '';
  readOutput(child, (text) => (output += text), (record) => {
    records.push(record);
    for (const watcher of [...watchers]) if (watcher(record)) watchers.delete(watcher);
  });
  let exitedAt: number | undefined;
  child.once('exit', () => {
    exitedAt = performance.now();
  });
  // Once stdout has closed (after the exit, with every last line read), no record can come any more.
  let outputClosed = false;
  child.once('close', () => {
    outputClosed = true;
    for (const watcher of [...watchers]) if (watcher(undefined)) watchers.delete(watcher);
  });

  let lastSignalAt: number | undefined;
  const signal = (name: NodeJS.Signals): void => {
    if (exitOf(child) !== undefined) return;
    lastSignalAt = performance.now();
    child.kill(name);
  };

  const waitForProcessExit = async (timeoutMs: number): Promise<FtpmasqExitReport | undefined> => {
    const since = lastSignalAt ?? performance.now();
    const exited = await waitForExit(child, timeoutMs);
    if (exited === undefined) return undefined;
    return { ...exited, elapsedMs: Math.round((exitedAt ?? performance.now()) - since) };
  };

  const waitForLog = (
    predicate: (record: LogRecord) => boolean,
    timeoutMs: number,
    fromIndex = 0,
  ): Promise<LogRecord | undefined> => {
    const seen = records.slice(fromIndex).find(predicate);
    if (seen !== undefined) return Promise.resolve(seen);
    if (outputClosed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const watcher = (record: LogRecord | undefined): boolean => {
        if (record !== undefined && !predicate(record)) return false;
        clearTimeout(timer);
        resolve(record);
        return true;
      };
      const timer = setTimeout(() => {
        watchers.delete(watcher);
        resolve(undefined);
      }, timeoutMs);
      watchers.add(watcher);
    });
  };

  let stopping: Promise<FtpmasqExit> | undefined;
  const stop = (): Promise<FtpmasqExit> => {
    stopping ??= (async () => {
      const already = exitOf(child);
      if (already !== undefined) return already;
      child.kill('SIGTERM');
      const exited = await waitForExit(child, STOP_TIMEOUT_MS);
      if (exited !== undefined) return exited;
      child.kill('SIGKILL');
      return (await waitForExit(child, STOP_TIMEOUT_MS)) ?? { code: null, signal: 'SIGKILL' };
    })();
    return stopping;
  };
  const handle: FtpmasqChild = {
    args,
    logRecords: records,
    output: () => output,
    running: () => exitOf(child) === undefined,
    signal,
    waitForExit: waitForProcessExit,
    waitForLog,
    stop,
  };

  const ready = await new Promise<string | undefined>((resolve) => {
    child.once('error', (error) => resolve(`cannot start: ${error.message}`));
    void waitForLog((record) => record['msg'] === READY_MESSAGE, READY_TIMEOUT_MS).then(async (record) => {
      // With workers (the default on a machine of several cores) a worker's line comes first: the
      // process is ready, its /metrics answering for every worker, once the primary says all are.
      const allReady = record === undefined || typeof record['worker'] !== 'number' ? record : await waitForLog((each) => each['msg'] === ALL_WORKERS_READY_MESSAGE, READY_TIMEOUT_MS);
      if (allReady !== undefined) resolve(undefined);
      else {
        const exit = exitOf(child);
        resolve(exit === undefined ? `no "${READY_MESSAGE}" line within ${READY_TIMEOUT_MS} ms` : `exited ${exit.code ?? exit.signal} before it was ready`);
      }
    });
  });
  if (ready !== undefined) {
    const exit = await stop();
    throw new Error(
      `ftpmasq ${args.join(' ')}: ${ready} (exit ${exit.code ?? exit.signal})\n--- ftpmasq output ---\n${output}`,
    );
  }
  return handle;
}

/**
 * The built CLI as a child process on this machine's loopback (no namespaces), for the tests of
 * signals and exit codes: SIGHUP, SIGTERM and SIGINT, the ready line, the log records.
 */
export interface LocalFtpmasq {
  readonly args: readonly string[];
  /** Every stdout line that parsed as a JSON object, in order. */
  readonly logRecords: readonly Readonly<Record<string, unknown>>[];
  /** The `ftpmasq ready` record. */
  readonly ready: Readonly<Record<string, unknown>>;
  output(): string;
  running(): boolean;
  /** The first record matching `matches`, waiting up to `timeoutMs`; rejects when the process exits first. */
  waitForRecord(
    matches: (record: Readonly<Record<string, unknown>>) => boolean,
    timeoutMs: number,
  ): Promise<Readonly<Record<string, unknown>>>;
  signal(signal: NodeJS.Signals): void;
  /** The exit, or undefined when it still runs after `timeoutMs`. */
  waitForExit(timeoutMs: number): Promise<FtpmasqExit | undefined>;
  /** SIGKILL when it still runs (for afterEach). */
  kill(): Promise<void>;
}

export async function startLocalFtpmasq(args: readonly string[]): Promise<LocalFtpmasq> {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} does not exist: run \`npm run build\` first`);
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const records: Readonly<Record<string, unknown>>[] = [];
  const listeners = new Set<() => void>();
  let output = '';
  readOutput(child, (text) => (output += text), (record) => {
    records.push(record);
    for (const listener of [...listeners]) listener();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const waitForRecord = (
    matches: (record: Readonly<Record<string, unknown>>) => boolean,
    timeoutMs: number,
  ): Promise<Readonly<Record<string, unknown>>> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = records.find(matches);
        if (found === undefined) return false;
        cleanup();
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching log record within ${timeoutMs} ms\n${output}`));
      }, timeoutMs);
      const onExit = (): void => {
        if (check()) return;
        cleanup();
        reject(new Error(`ftpmasq exited before the log record\n${output}`));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('exit', onExit);
      };
      if (check()) return;
      listeners.add(check);
      child.once('exit', onExit);
    });

  const kill = async (): Promise<void> => {
    if (exitOf(child) !== undefined) return;
    child.kill('SIGKILL');
    await exited;
  };
  let ready: Readonly<Record<string, unknown>>;
  try {
    ready = await waitForRecord((record) => record['msg'] === READY_MESSAGE, READY_TIMEOUT_MS);
  } catch (error) {
    await kill();
    throw error;
  }
  return {
    args,
    logRecords: records,
    ready,
    output: () => output,
    running: () => exitOf(child) === undefined,
    waitForRecord,
    signal: (signal) => child.kill(signal),
    waitForExit: (timeoutMs) => waitForExit(child, timeoutMs),
    kill,
  };
}

/** Writes a YAML config file of flat options (the keys are the flags in camelCase). */
export function writeConfigFile(path: string, options: Readonly<Record<string, string | readonly string[]>>): void {
  writeFileSync(path, stringifyYaml(options));
}
