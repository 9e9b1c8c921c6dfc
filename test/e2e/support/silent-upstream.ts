/**
 * An upstream that accepts TCP connections and never says a word: no 220, no close. A Node one-liner
 * runs inside the server namespace (Node cannot setns itself), holds every accepted socket open, and
 * exits on its own after `maxSeconds` whatever the test does; `stop()` ends it sooner.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Topology } from '../../helpers/topology.js';

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

// argv: host port maxSeconds. Prints "listening", then "accept <address>" for each connection.
const SILENT_SERVER = `
const net = require('node:net');
const [host, portText, maxSecondsText] = process.argv.slice(1);
const sockets = new Set();
const server = net.createServer((socket) => {
  sockets.add(socket);
  process.stdout.write('accept ' + socket.remoteAddress + '\\n');
  socket.on('error', () => socket.destroy());
  socket.on('close', () => sockets.delete(socket));
});
server.listen({ host, port: Number(portText) }, () => process.stdout.write('listening\\n'));
server.on('error', (error) => { process.stderr.write(error.message); process.exit(1); });
setTimeout(() => process.exit(0), Number(maxSecondsText) * 1000);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

export interface SilentUpstream {
  readonly address: string;
  readonly port: number;
  /** How many connections it has accepted so far. */
  accepts(): number;
  /** Ends it (bounded; SIGKILL if it does not go). Idempotent. */
  stop(): Promise<void>;
}

export async function startSilentUpstream(
  ip: string,
  topology: Topology,
  address: string,
  port: number,
  maxSeconds = 120,
): Promise<SilentUpstream> {
  const child: ChildProcess = spawn(
    ip,
    [...topology.execArgs(topology.server), process.execPath, '-e', SILENT_SERVER, address, String(port), String(maxSeconds)],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let accepted = 0;
  let stdout = '';
  let stderr = '';
  let onListening: (() => void) | undefined;
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
    accepted = stdout.split('\n').filter((line) => line.startsWith('accept ')).length;
    if (stdout.split('\n').includes('listening')) onListening?.();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
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
          timer = setTimeout(() => resolve(false), STOP_TIMEOUT_MS);
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
    const timer = setTimeout(() => resolve(`not listening after ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    const settle = (why: string | undefined): void => {
      clearTimeout(timer);
      resolve(why);
    };
    onListening = () => settle(undefined);
    if (stdout.split('\n').includes('listening')) settle(undefined);
    child.once('error', (error) => settle(`cannot start: ${error.message}`));
    void exited.then(() => settle(`exited ${child.exitCode ?? child.signalCode} before listening`));
  });
  if (problem !== undefined) {
    await stop();
    throw new Error(`silent upstream on ${address}:${port} in ${topology.server}: ${problem}: ${stderr.trim()}`);
  }
  return { address, port, accepts: () => accepted, stop };
}
