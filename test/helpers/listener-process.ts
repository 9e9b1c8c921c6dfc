/**
 * A small listener run as a child process inside a namespace (Node cannot setns itself): it prints
 * "listening" once it listens and "accept <address> ..." for each connection, and exits when its
 * stdin ends or after its own time limit. Shared by the accept recorder and the silent upstream.
 */
import { type ChildProcess, spawn } from 'node:child_process';

export interface ListenerProcess {
  /** The peer address of every connection accepted so far, in order. */
  accepted(): readonly string[];
  /** Ends it (stdin EOF, then SIGKILL after the stop timeout). Idempotent. */
  stop(): Promise<void>;
}

export interface ListenerProcessOptions {
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
  /** What the error names when it does not start: "accept recorder on 10.0.11.251:21 in fmq-...". */
  readonly description: string;
}

export async function startListenerProcess(
  file: string,
  args: readonly string[],
  options: ListenerProcessOptions,
): Promise<ListenerProcess> {
  const child: ChildProcess = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const accepted: string[] = [];
  let listening = false;
  let stderr = '';
  let partial = '';
  let onListening: (() => void) | undefined;
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'listening') {
        listening = true;
        onListening?.();
      }
      const match = /^accept (\S+)/.exec(line);
      if (match?.[1] !== undefined) accepted.push(match[1]);
    }
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      child.stdin?.end();
      let timer: NodeJS.Timeout | undefined;
      const inTime = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), options.stopTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (!inTime) {
        child.kill('SIGKILL');
        await exited;
      }
    })();
    return stopping;
  };

  const problem = await new Promise<string | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(`not listening after ${options.startTimeoutMs} ms`), options.startTimeoutMs);
    const settle = (why: string | undefined): void => {
      clearTimeout(timer);
      resolve(why);
    };
    onListening = () => settle(undefined);
    if (listening) settle(undefined);
    child.once('error', (error) => settle(`cannot start: ${error.message}`));
    void exited.then(() => settle(`exited ${child.exitCode ?? child.signalCode} before listening`));
  });
  if (problem !== undefined) {
    await stop();
    throw new Error(`${options.description}: ${problem}: ${stderr.trim()}`);
  }
  return { accepted: () => [...accepted], stop };
}
