/**
 * The built ftpmasq CLI (dist/cli.js) as a child process in the gateway namespace: started with the
 * flags of a deployment, ready when it logs `ftpmasq ready`, stopped with SIGTERM.
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
const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

export type FtpmasqMode = 'relay' | 'rewrite';

export interface FtpmasqExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface FtpmasqProcess {
  readonly mode: FtpmasqMode;
  readonly args: readonly string[];
  /** Every stdout line that parsed as a JSON object (pino's output), in order. */
  readonly logRecords: readonly Readonly<Record<string, unknown>>[];
  /** stdout and stderr as they came, for failure messages. */
  output(): string;
  running(): boolean;
  /** SIGTERM, bounded wait (then SIGKILL, reported as such). Idempotent: the same exit every time. */
  stop(): Promise<FtpmasqExit>;
}

export interface FtpmasqOptions {
  readonly tools: E2eTools;
  readonly topology: Topology;
  readonly mode: FtpmasqMode;
  readonly extraArgs?: readonly string[];
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseRecord(line: string): Readonly<Record<string, unknown>> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
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

export async function startFtpmasq(options: FtpmasqOptions): Promise<FtpmasqProcess> {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} does not exist: run \`npm run build\` first (npm run test:e2e does it for you)`);
  }
  const { tools, topology, mode } = options;
  const args = [
    '--listen', `${PUBLIC_ADDRESS}:21`,
    '--upstream', `${SERVER_ADDRESS}:21`,
    '--public-address', PUBLIC_ADDRESS,
    '--passive-ports', FTPMASQ_PASSIVE_PORTS,
    '--mode', mode,
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(tools.ip, [...topology.execArgs(topology.gateway), process.execPath, CLI_PATH, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const records: Readonly<Record<string, unknown>>[] = [];
  let output = '';
  let partial = '';
  let onReady: (() => void) | undefined;
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output += text;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const record = parseRecord(line);
      if (record === undefined) continue;
      records.push(record);
      if (record['msg'] === READY_MESSAGE) onReady?.();
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += `[stderr] ${chunk.toString('utf8')}`;
  });

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
  const handle: FtpmasqProcess = {
    mode,
    args,
    logRecords: records,
    output: () => output,
    running: () => exitOf(child) === undefined,
    stop,
  };

  const ready = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(`no "${READY_MESSAGE}" line within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    const settle = (problem: string | undefined): void => {
      clearTimeout(timer);
      resolve(problem);
    };
    onReady = () => settle(undefined);
    if (records.some((record) => record['msg'] === READY_MESSAGE)) settle(undefined);
    child.once('error', (error) => settle(`cannot start: ${error.message}`));
    child.once('exit', (code, signal) => settle(`exited ${code ?? signal} before it was ready`));
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
  let partial = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output += text;
    partial += text;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      const record = parseRecord(line);
      if (record !== undefined) records.push(record);
    }
    for (const listener of [...listeners]) listener();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += `[stderr] ${chunk.toString('utf8')}`;
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
