/**
 * `ftpmasq demo` (or a command line that runs it, such as `npm run demo`) as a child process in its own
 * process group, the way a terminal runs it: stdout read line by line, Ctrl-C as SIGINT to the whole group.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { DEMO_SUMMARY_PREFIX, type DemoSummary } from '../../src/demo/demo-report.js';

export interface DemoProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far, for failure messages. */
  output(): string;
  /** Every complete stdout line so far. */
  lines(): readonly string[];
  /** Resolves with the first stdout line that matches; rejects after the timeout or when the process exits first. */
  waitForLine(matches: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** The summary line, parsed. */
  waitForSummary(timeoutMs: number): Promise<DemoSummary>;
  /** Ctrl-C: SIGINT to the process group. */
  interrupt(): void;
  waitForExit(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL to the group if it still runs (for afterAll). */
  kill(): Promise<void>;
}

export interface DemoProcessOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export function startDemoProcess(file: string, args: readonly string[], options: DemoProcessOptions = {}): DemoProcess {
  const child = spawn(file, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  const complete: string[] = [];
  let partial = '';
  const listeners = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    stdout += text;
    partial += text;
    const split = partial.split('\n');
    partial = split.pop() ?? '';
    complete.push(...split);
    for (const listener of [...listeners]) listener();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  const output = (): string => `--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;
  const signalGroup = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined || !running()) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is gone already.
    }
  };
  const waitForExit = async (timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the demo did not exit within ${timeoutMs} ms\n${output()}`)), timeoutMs);
    });
    try {
      return await Promise.race([exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  const waitForLine = (matches: (line: string) => boolean, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = complete.find(matches);
        if (found === undefined) return false;
        cleanup();
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no matching line within ${timeoutMs} ms\n${output()}`));
      }, timeoutMs);
      const onExit = (): void => {
        if (check()) return;
        cleanup();
        reject(new Error(`the demo exited before printing the line\n${output()}`));
      };
      function cleanup(): void {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('exit', onExit);
      }
      listeners.add(check);
      child.once('exit', onExit);
      check();
    });
  return {
    child,
    output,
    lines: () => complete,
    waitForLine,
    waitForSummary: async (timeoutMs) => parseSummaryLine(await waitForLine((line) => line.startsWith(DEMO_SUMMARY_PREFIX), timeoutMs)),
    interrupt: () => signalGroup('SIGINT'),
    waitForExit,
    kill: async () => {
      if (!running()) return;
      signalGroup('SIGKILL');
      await waitForExit(10_000).catch(() => undefined);
    },
  };
}

export function parseSummaryLine(line: string): DemoSummary {
  const value: unknown = JSON.parse(line.slice(DEMO_SUMMARY_PREFIX.length));
  if (typeof value !== 'object' || value === null || !('status' in value) || !('ports' in value)) {
    throw new Error(`not a demo summary: ${line}`);
  }
  // The demo's own type, written by formatDemoSummary; the tests check each field they use.
  return value as DemoSummary;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
