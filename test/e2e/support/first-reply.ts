/**
 * One plain TCP dial from a client host, and what came of it: the first line the server sent, a refused
 * connection, a close without a line, or nothing within the bound. For what an FTP client library
 * hides: a listener that is gone (refused), a 421 instead of the 220, and how long it took to come.
 */
import type { E2eTools } from '../../helpers/prerequisites.js';
import type { FtpEndpoint } from '../../helpers/clients.js';
import type { ClientHost, RunResult, Topology } from '../../helpers/topology.js';

export type FirstReply =
  /** `line` without its CRLF; `elapsedMs` from the TCP connect to the line's end. */
  | { readonly outcome: 'reply'; readonly line: string; readonly elapsedMs: number }
  | { readonly outcome: 'refused'; readonly elapsedMs: number }
  | { readonly outcome: 'closed'; readonly elapsedMs: number }
  | { readonly outcome: 'timeout'; readonly elapsedMs: number }
  | { readonly outcome: 'error'; readonly code: string; readonly elapsedMs: number };

// argv: host port timeoutMs. Prints one JSON object, the FirstReply.
const FIRST_REPLY_PROBE = `
const net = require('node:net');
const [host, portText, timeoutText] = process.argv.slice(1);
const started = Date.now();
let connectedAt = started;
let text = '';
let done = false;
const socket = net.connect({ host, port: Number(portText) });
const finish = (result) => {
  if (done) return;
  done = true;
  process.stdout.write(JSON.stringify({ ...result, elapsedMs: Date.now() - connectedAt }) + '\\n');
  socket.destroy();
  process.exit(0);
};
socket.on('connect', () => { connectedAt = Date.now(); });
socket.on('data', (chunk) => {
  text += chunk.toString('latin1');
  const end = text.indexOf('\\n');
  if (end >= 0) finish({ outcome: 'reply', line: text.slice(0, end).replace(/\\r$/, '') });
});
socket.on('end', () => finish({ outcome: 'closed' }));
socket.on('close', () => finish({ outcome: 'closed' }));
socket.on('error', (error) => finish(error.code === 'ECONNREFUSED' ? { outcome: 'refused' } : { outcome: 'error', code: String(error.code || error.message) }));
setTimeout(() => finish({ outcome: 'timeout' }), Number(timeoutText));
`;

function isFirstReply(value: unknown): value is FirstReply {
  if (typeof value !== 'object' || value === null || !('outcome' in value) || !('elapsedMs' in value)) return false;
  if (typeof value.elapsedMs !== 'number') return false;
  switch (value.outcome) {
    case 'reply':
      return 'line' in value && typeof value.line === 'string';
    case 'error':
      return 'code' in value && typeof value.code === 'string';
    case 'refused':
    case 'closed':
    case 'timeout':
      return true;
    default:
      return false;
  }
}

export interface FirstReplyRun {
  readonly reply: FirstReply;
  readonly run: RunResult;
}

/** Dials `endpoint` once from `host` and waits at most `timeoutMs` for the first line. */
export async function dialFirstReply(
  tools: E2eTools,
  topology: Topology,
  host: ClientHost,
  endpoint: FtpEndpoint,
  timeoutMs: number,
): Promise<FirstReplyRun> {
  const run = await topology.exec(
    host.namespace,
    process.execPath,
    ['-e', FIRST_REPLY_PROBE, endpoint.address, String(endpoint.port), String(timeoutMs)],
    { timeoutMs: timeoutMs + 10_000 },
  );
  const line = run.stdout.toString('utf8').trim();
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    value = undefined;
  }
  if (!isFirstReply(value)) {
    throw new Error(`first-reply probe of ${endpoint.address}:${endpoint.port}: unexpected output ${JSON.stringify(line)}; stderr: ${run.stderr.trim()}`);
  }
  return { reply: value, run };
}
