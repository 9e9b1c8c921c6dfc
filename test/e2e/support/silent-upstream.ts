/**
 * An upstream that accepts TCP connections and never says a word: no 220, no close. A Node one-liner
 * runs inside the server namespace (Node cannot setns itself), holds every accepted socket open, and
 * exits on its own after `maxSeconds` whatever the test does; `stop()` ends it sooner.
 */
import { startListenerProcess } from '../../helpers/listener-process.js';
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
  const listener = await startListenerProcess(
    ip,
    [...topology.execArgs(topology.server), process.execPath, '-e', SILENT_SERVER, address, String(port), String(maxSeconds)],
    { startTimeoutMs: START_TIMEOUT_MS, stopTimeoutMs: STOP_TIMEOUT_MS, description: `silent upstream on ${address}:${port} in ${topology.server}` },
  );
  return { address, port, accepts: () => listener.accepted().length, stop: () => listener.stop() };
}
