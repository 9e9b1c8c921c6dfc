/**
 * A download whose pace the test sets, through a daemon with its metrics listener on loopback:
 * the client reads the data connection only when told to, so the relay's byte count stands still
 * between steps and a live view read twice must show it grow. Shared by the live view's
 * integration test (/sessions) and its browser test (the page).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { z } from 'zod';
import type { ProxyHarness, StartedProxy } from './proxy-harness.js';
import { type DataConnection, type Endpoint, type RawFtpClient, type Reply, assertLoopback, commandLine, waitUntil } from './raw-ftp-client.js';

/** A user name with non-ASCII bytes and markup: shown as text, never as markup. */
export const LIVE_USER = Buffer.from('jürgen<i>', 'utf8');
export const LIVE_USER_TEXT = 'jürgen<i>';
export const LIVE_PASSWORD = 's3cr3t-tiger';
export const LIVE_FILE = 'live-view.bin';

const nullable = <T extends z.ZodType>(schema: T) => z.union([schema, z.null()]);

/** The /sessions contract as a client reads it: what the live view promises, checked on every read. */
const LIVE_ROW = z.strictObject({
  id: z.string(),
  site: z.string(),
  client: z.string(),
  user: nullable(z.string()),
  state: z.enum(['connecting', 'greeting', 'login', 'idle', 'command', 'transfer', 'closing']),
  startedAt: z.iso.datetime(),
  seconds: z.number().int().nonnegative(),
  transfer: nullable(z.strictObject({ verb: z.string(), argument: z.string() })),
  data: nullable(
    z.strictObject({
      bytes: z.number().int().nonnegative(),
      bytesToClient: z.number().int().nonnegative(),
      bytesToServer: z.number().int().nonnegative(),
      bytesPerSecond: z.number().int().nonnegative(),
      seconds: z.number().int().nonnegative(),
    }),
  ),
});
const LIVE_DOCUMENT = z.strictObject({
  generatedAt: z.iso.datetime(),
  total: z.number().int().nonnegative(),
  limit: z.number().int().positive(),
  omitted: z.number().int().nonnegative(),
  sessions: z.array(LIVE_ROW),
});
export type LiveRow = z.infer<typeof LIVE_ROW>;
export type LiveDocument = z.infer<typeof LIVE_DOCUMENT>;

export interface PacedDownload {
  readonly proxy: StartedProxy;
  /** Where /sessions and / are served. */
  readonly http: Endpoint;
  readonly client: RawFtpClient;
  readonly data: DataConnection;
  readonly payload: Buffer;
  /** Lets at least `bytes` more through to the client, then stops reading again. */
  step(bytes: number): Promise<void>;
  /** Reads the rest, closes the data connection and reads the 226; resolves with every byte received. */
  finish(): Promise<Buffer>;
}

/**
 * Logs in as LIVE_USER through a new proxy (metrics listener on 127.0.0.1:0) in front of a
 * LegacyFtpServer holding `size` random bytes, and starts RETR with the data connection paused.
 */
export async function startPacedDownload(harness: ProxyHarness, size = 32 * 1024 * 1024): Promise<PacedDownload> {
  const payload = randomBytes(size);
  const upstream = await harness.legacyServer({
    users: new Map([[LIVE_USER.toString('latin1'), LIVE_PASSWORD]]),
    files: new Map([[LIVE_FILE, payload]]),
  });
  const proxy = await harness.startProxy(upstream.address, { metricsListen: '127.0.0.1:0' });
  const metricsAddress = proxy.daemon.metricsAddress;
  if (metricsAddress === undefined) throw new Error('the daemon has no metrics listener');
  const client = await harness.open(proxy.endpoint);
  expectCode(await client.command(commandLine('USER', LIVE_USER)), 331);
  expectCode(await client.command(`PASS ${LIVE_PASSWORD}`), 230);
  const target = await client.pasv();
  const data = await client.connectData(target);
  data.socket.pause();
  client.send(`RETR ${LIVE_FILE}`);
  await client.expectReply(150);
  return {
    proxy,
    http: metricsAddress,
    client,
    data,
    payload,
    async step(bytes) {
      const goal = data.bytesReceived + bytes;
      data.socket.resume();
      await waitUntil(() => data.bytesReceived >= goal || data.hasEnded, 10_000, () => `received ${data.bytesReceived} of ${goal} bytes`);
      data.socket.pause();
    },
    async finish() {
      data.socket.resume();
      const received = await data.ended;
      // As a client does once the download has ended: its side closes too, and the relay with it.
      data.socket.end();
      await client.expectReply(226, 10_000);
      return received;
    },
  };
}

function expectCode(reply: Reply, code: number): void {
  if (reply.code !== code) throw new Error(`expected ${code}, got ${JSON.stringify(reply.text)}`);
}

/** GET on the metrics listener (loopback only): status, headers, body. */
export function httpGet(endpoint: Endpoint, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  assertLoopback(endpoint.host);
  return new Promise((resolve, reject) => {
    const request = http.get({ host: endpoint.host, port: endpoint.port, path, timeout: 5000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${path} timed out`)));
    request.on('error', reject);
  });
}

/** /sessions, parsed; the raw text too, to look for what must never be in it. */
export async function readSessions(endpoint: Endpoint): Promise<{ document: LiveDocument; text: string }> {
  const answer = await httpGet(endpoint, '/sessions');
  if (answer.status !== 200) throw new Error(`/sessions answered ${answer.status}: ${answer.body}`);
  return { document: LIVE_DOCUMENT.parse(JSON.parse(answer.body)), text: answer.body };
}

/** The one session's row; fails when there is not exactly one. */
export function onlySession(document: LiveDocument): LiveRow {
  const [row, ...rest] = document.sessions;
  if (row === undefined || rest.length > 0) throw new Error(`expected one session, got ${JSON.stringify(document)}`);
  return row;
}
