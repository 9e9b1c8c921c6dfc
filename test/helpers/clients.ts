/**
 * The FTP clients of the matrix, each run inside a client host's namespace, each bounded in time so a
 * failure is fast and never hangs:
 *
 * - `curl-legacy`: `--disable-epsv --no-ftp-skip-pasv-ip` sends PASV and dials the address inside the 227
 *   reply, as curl did before 7.74 (and as many embedded and scripted clients still do).
 * - `curl-epsv`: today's curl defaults: EPSV, so the data connection goes to the control peer's address.
 * - `python-ftplib`: ftplib with `trust_server_pasv_ipv4_address = True` (Python before 3.6.13 dialled
 *   the 227 address too). Over IPv6 (an IPv6 endpoint address) ftplib sends EPSV instead.
 * - `lftp`: Debian's lftp 4.9 set up as a legacy client that trusts the 227 address (PASV, no EPSV,
 *   `ftp:fix-pasv-address no`); see {@link LFTP_SETTINGS}.
 *
 * Active mode (issue 4), where the data connection comes to the client:
 *
 * - `curl-eprt`: `curl -P -`: curl listens on the control connection's local address and sends EPRT
 *   (falling back to PORT only if EPRT is refused).
 * - `curl-port`: `curl -P - --disable-eprt`: PORT, as old clients and appliances send it.
 * - `python-ftplib-active`: ftplib with `set_pasv(False)`: PORT over IPv4, EPRT |2|...| over IPv6.
 *
 * Besides, {@link runFtplibCommands} sends raw control lines (FEAT, a PASV or PORT by hand) and returns
 * the replies, and {@link startAcceptRecorder} is a listener that records who connects to it.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FTP_PASSWORD, FTP_USER } from './proftpd.js';
import type { E2eTools } from './prerequisites.js';
import type { ClientHost, RunResult, Topology } from './topology.js';
import { startListenerProcess } from './listener-process.js';

export type ClientKind = 'curl-legacy' | 'curl-epsv' | 'python-ftplib' | 'lftp' | ActiveClientKind;
/** The passive-mode clients of the core matrix. */
export const CLIENT_KINDS: readonly ClientKind[] = ['curl-legacy', 'curl-epsv', 'python-ftplib', 'lftp'];
export type ActiveClientKind = 'curl-eprt' | 'curl-port' | 'python-ftplib-active';
export const ACTIVE_CLIENT_KINDS: readonly ActiveClientKind[] = ['curl-eprt', 'curl-port', 'python-ftplib-active'];

const SUPPORT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'e2e', 'support');
const FTPLIB_CLIENT = join(SUPPORT_DIR, 'ftplib-client.py');
const ACCEPT_RECORDER = join(SUPPORT_DIR, 'accept-recorder.py');
/** Bounds one client operation: the whole transfer (curl --max-time) or every socket wait (ftplib). */
const CLIENT_TIMEOUT_S = 60;
const CONNECT_TIMEOUT_S = 5;
/** The hard stop for the process, past the client's own bounds. */
const PROCESS_TIMEOUT_MS = (CLIENT_TIMEOUT_S + 15) * 1000;

export interface FtpEndpoint {
  readonly address: string;
  readonly port: number;
}

export interface ListResult {
  readonly run: RunResult;
  /** The LIST output decoded as UTF-8 (ProFTPD has `UseUTF8 on`). */
  readonly listing: string;
}

export interface FtpClient {
  readonly kind: ClientKind;
  readonly host: ClientHost;
  list(): Promise<ListResult>;
  download(remoteName: string, localPath: string): Promise<RunResult>;
  upload(localPath: string, remoteName: string): Promise<RunResult>;
}

export interface ClientOptions {
  readonly tools: E2eTools;
  readonly topology: Topology;
  readonly host: ClientHost;
  readonly endpoint: FtpEndpoint;
  /**
   * curl's `--limit-rate` (e.g. `16M`: bytes per second, K/M/G suffixes): a transfer that lasts long
   * enough to reload or drain under it. curl clients only; the others refuse it.
   */
  readonly limitRate?: string;
}

// A UTF-8 locale so python's argv and stderr carry the Japanese file name as it is.
const CLIENT_ENV: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C.UTF-8', PYTHONIOENCODING: 'utf-8:backslashreplace' };

export function createClient(kind: ClientKind, options: ClientOptions): FtpClient {
  if (options.limitRate !== undefined && !kind.startsWith('curl-')) {
    throw new Error(`limitRate is curl's --limit-rate; client ${kind} cannot limit its rate`);
  }
  switch (kind) {
    case 'curl-legacy':
      return createCurlClient(kind, options, ['--disable-epsv', '--no-ftp-skip-pasv-ip']);
    case 'curl-epsv':
      return createCurlClient(kind, options, []);
    case 'python-ftplib':
      return createFtplibClient(kind, options, []);
    case 'lftp':
      return createLftpClient(options);
    case 'curl-eprt':
      return createCurlClient(kind, options, ['--ftp-port', '-']);
    case 'curl-port':
      return createCurlClient(kind, options, ['--ftp-port', '-', '--disable-eprt']);
    case 'python-ftplib-active':
      return createFtplibClient(kind, options, ['--active']);
    default: {
      const unknown: never = kind;
      throw new Error(`unknown client ${String(unknown)}`);
    }
  }
}

function createCurlClient(kind: ClientKind, options: ClientOptions, modeArgs: readonly string[]): FtpClient {
  const { tools, topology, host, endpoint } = options;
  const base = `ftp://${urlHost(endpoint.address)}:${endpoint.port}/`;
  const curl = (args: readonly string[]): Promise<RunResult> =>
    topology.exec(
      host.namespace,
      tools.curl,
      [
        // --verbose writes the control dialogue (never the data) to stderr: the evidence in a failure.
        '--silent', '--show-error', '--verbose',
        '--user', `${FTP_USER}:${FTP_PASSWORD}`,
        '--connect-timeout', String(CONNECT_TIMEOUT_S),
        '--max-time', String(CLIENT_TIMEOUT_S),
        ...(options.limitRate === undefined ? [] : ['--limit-rate', options.limitRate]),
        ...modeArgs,
        ...args,
      ],
      { timeoutMs: PROCESS_TIMEOUT_MS, env: CLIENT_ENV },
    );
  return {
    kind,
    host,
    async list() {
      const run = await curl([base]);
      return { run, listing: run.stdout.toString('utf8') };
    },
    download: (remoteName, localPath) => curl(['--output', localPath, `${base}${encodeURIComponent(remoteName)}`]),
    upload: (localPath, remoteName) => curl(['--upload-file', localPath, `${base}${encodeURIComponent(remoteName)}`]),
  };
}

function createFtplibClient(kind: ClientKind, options: ClientOptions, modeArgs: readonly string[]): FtpClient {
  const ftplib = (args: readonly string[]): Promise<RunResult> => runFtplib(options, modeArgs, args);
  return {
    kind,
    host: options.host,
    async list() {
      const run = await ftplib(['list']);
      return { run, listing: run.stdout.toString('utf8') };
    },
    download: (remoteName, localPath) => ftplib(['get', remoteName, localPath]),
    upload: (localPath, remoteName) => ftplib(['put', localPath, remoteName]),
  };
}

function runFtplib(options: ClientOptions, modeArgs: readonly string[], args: readonly string[]): Promise<RunResult> {
  const { tools, topology, host, endpoint } = options;
  return topology.exec(
    host.namespace,
    tools.python3,
    [FTPLIB_CLIENT, ...modeArgs, endpoint.address, String(endpoint.port), FTP_USER, FTP_PASSWORD, String(CLIENT_TIMEOUT_S), ...args],
    { timeoutMs: PROCESS_TIMEOUT_MS, env: CLIENT_ENV },
  );
}

/**
 * lftp as a legacy client that trusts the address inside the 227 reply (setting names from lftp(1) and
 * `set -a` of lftp 4.9.2):
 *
 * - `ftp:passive-mode on`, `ftp:prefer-epsv no`: PASV for every data connection, never EPSV.
 * - `ftp:ignore-pasv-address no`, `ftp:fix-pasv-address no`: dial the 227 address as it is. By default
 *   lftp replaces a private 227 address (10/8, 172.16/12, 192.168/16) by the control peer's when that one
 *   is not private (`Handle_PASV` in ftpclass.cc), which would hide the very problem ftpmasq fixes.
 *   `ftp:auto-passive-mode` (switch to PORT when a data connection fails) acts only on such a fixed
 *   address, so with the fix off lftp never falls back to active mode.
 * - `ftp:ssl-allow no`, `ssl:verify-certificate no`: plain FTP, as the legacy client speaks it.
 * - `net:max-retries 1` (no retry), `net:timeout 10`, `net:reconnect-interval-base 1`: a failure is fast.
 * - `cmd:fail-exit yes`: exit non-zero at the first command that fails.
 * - `log:enabled/xfer no`, `cmd:save-cwd-history no`: write nothing to root's home directory.
 *
 * `debug 5` writes the control dialogue (`---> PASV`, `<--- 227 ...`, `---- Connecting data socket to
 * (203.0.113.10) port 60000`, `**** connect: Network is unreachable (101)`) to stderr, never the data.
 * lftp 4.9.2 shows the PASS line in clear there: fine for the test account, not for a real one.
 */
export const LFTP_SETTINGS: readonly string[] = [
  'ftp:passive-mode on',
  'ftp:prefer-epsv no',
  'ftp:ignore-pasv-address no',
  'ftp:fix-pasv-address no',
  'ssl:verify-certificate no',
  'ftp:ssl-allow no',
  'net:max-retries 1',
  'net:timeout 10',
  'net:reconnect-interval-base 1',
  'cmd:fail-exit yes',
  'log:enabled/xfer no',
  'cmd:save-cwd-history no',
];

/** One argument of an lftp command line, quoted (lftp's parser treats `;`, `&`, `|`, `>` and space specially). */
function quoteLftp(word: string): string {
  // The fixture names and the test's paths never hold these; refuse rather than get the escaping subtly wrong.
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  if (/["\\\x00-\x1f]/.test(word)) throw new Error(`cannot quote ${JSON.stringify(word)} for lftp`);
  return `"${word}"`;
}

/**
 * The `lftp` client; `overrides` are more settings after {@link LFTP_SETTINGS} (a later `set` wins), e.g.
 * `ftp:fix-pasv-address yes` for lftp's default behaviour.
 */
export function createLftpClient(options: ClientOptions, overrides: readonly string[] = []): FtpClient {
  const { tools, topology, host, endpoint } = options;
  const lftp = (command: string): Promise<RunResult> => {
    const script = [
      ...[...LFTP_SETTINGS, ...overrides].map((setting) => `set ${setting}`),
      'debug 5',
      `open -u ${quoteLftp(`${FTP_USER},${FTP_PASSWORD}`)} ${quoteLftp(`ftp://${urlHost(endpoint.address)}:${endpoint.port}`)}`,
      command,
    ].join('; ');
    // lftp has no overall time bound of its own; net:timeout bounds each wait, the process timeout the rest.
    return topology.exec(host.namespace, tools.lftp, ['-c', script], { timeoutMs: PROCESS_TIMEOUT_MS, env: CLIENT_ENV });
  };
  return {
    kind: 'lftp',
    host,
    async list() {
      const run = await lftp('ls');
      return { run, listing: run.stdout.toString('utf8') };
    },
    download: (remoteName, localPath) => lftp(`get ${quoteLftp(remoteName)} -o ${quoteLftp(localPath)}`),
    upload: (localPath, remoteName) => lftp(`put ${quoteLftp(localPath)} -o ${quoteLftp(remoteName)}`),
  };
}

/** An IPv6 literal goes in brackets in a URL. */
function urlHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}

export interface CommandReply {
  readonly command: string;
  /** The whole reply, its lines joined by "\n" (ftplib's sendcmd). */
  readonly reply: string;
}

export interface CommandsResult {
  readonly run: RunResult;
  readonly replies: readonly CommandReply[];
}

function isCommandReply(value: unknown): value is CommandReply {
  return (
    typeof value === 'object' &&
    value !== null &&
    'command' in value &&
    typeof value.command === 'string' &&
    'reply' in value &&
    typeof value.reply === 'string'
  );
}

/**
 * Logs in with ftplib and sends each line as it is (FEAT, PASV by hand, a PORT that must be refused),
 * whatever the replies; opens no data connection. The replies come back in order.
 */
export async function runFtplibCommands(options: ClientOptions, commands: readonly string[]): Promise<CommandsResult> {
  const run = await runFtplib(options, [], ['commands', ...commands]);
  const replies: CommandReply[] = [];
  for (const line of run.stdout.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    const value: unknown = JSON.parse(line);
    if (!isCommandReply(value)) throw new Error(`ftplib-client commands: unexpected output line ${line}`);
    replies.push(value);
  }
  return { run, replies };
}

export interface AbortResult {
  readonly run: RunResult;
  /** The replies to ftplib's abort(): the first, and the 226 after a 426. */
  readonly abort: readonly string[];
  readonly noop: string;
  /** Bytes of the download read before the abort. */
  readonly received: number;
  /** SHA-256 of the file downloaded after the abort. */
  readonly nextSha256: string;
}

/**
 * ftplib's abort() mid-download (ABOR as TCP urgent data), then NOOP and a whole download of
 * `next`: what a client's Cancel does, and that the session is still good afterwards.
 */
export async function runFtplibAbort(options: ClientOptions, remote: string, next: string): Promise<AbortResult> {
  const run = await runFtplib(options, [], ['abort', remote, next]);
  const line = run.stdout.toString('utf8').trim();
  const value: unknown = line === '' ? undefined : JSON.parse(line);
  if (
    typeof value !== 'object' ||
    value === null ||
    !('abort' in value && Array.isArray(value.abort) && value.abort.every((reply) => typeof reply === 'string')) ||
    !('noop' in value && typeof value.noop === 'string') ||
    !('received' in value && typeof value.received === 'number') ||
    !('next_sha256' in value && typeof value.next_sha256 === 'string')
  ) {
    return { run, abort: [], noop: '', received: 0, nextSha256: '' };
  }
  return { run, abort: value.abort.filter((reply): reply is string => typeof reply === 'string'), noop: value.noop, received: value.received, nextSha256: value.next_sha256 };
}

export interface StatResult {
  readonly run: RunResult;
  /** The two replies after the download, in the order they came (each reply's lines joined by LF). */
  readonly replies: readonly string[];
  readonly noop: string;
  readonly received: number;
  readonly sha256: string;
}

/** ftplib: RETR `remote`, STAT after its first MiB, the rest of the data, then the two replies and a NOOP. */
export async function runFtplibStat(options: ClientOptions, remote: string): Promise<StatResult> {
  const run = await runFtplib(options, [], ['stat', remote]);
  const line = run.stdout.toString('utf8').trim();
  const value: unknown = line === '' ? undefined : JSON.parse(line);
  if (
    typeof value !== 'object' ||
    value === null ||
    !('replies' in value && Array.isArray(value.replies) && value.replies.every((reply) => typeof reply === 'string')) ||
    !('noop' in value && typeof value.noop === 'string') ||
    !('received' in value && typeof value.received === 'number') ||
    !('sha256' in value && typeof value.sha256 === 'string')
  ) {
    return { run, replies: [], noop: '', received: 0, sha256: '' };
  }
  return { run, replies: value.replies.filter((reply): reply is string => typeof reply === 'string'), noop: value.noop, received: value.received, sha256: value.sha256 };
}

export interface AcceptRecorder {
  readonly host: ClientHost;
  readonly address: string;
  readonly port: number;
  /** The peer address of every connection accepted so far, in order. */
  accepts(): readonly string[];
  /** Stops listening (bounded) and returns every accept. Idempotent. */
  stop(): Promise<readonly string[]>;
}

const RECORDER_START_TIMEOUT_MS = 10_000;
const RECORDER_STOP_TIMEOUT_MS = 5_000;

/**
 * A listener on `address:port` inside a client host's namespace that records every connection it
 * accepts: the target of a bounce attempt, and the proof that nothing reached it. It stops on its own
 * after `maxSeconds`, whatever the test does.
 */
export async function startAcceptRecorder(
  tools: E2eTools,
  topology: Topology,
  host: ClientHost,
  address: string,
  port: number,
  maxSeconds = 60,
): Promise<AcceptRecorder> {
  const listener = await startListenerProcess(
    tools.ip,
    [...topology.execArgs(host.namespace), tools.python3, ACCEPT_RECORDER, address, String(port), String(maxSeconds)],
    {
      startTimeoutMs: RECORDER_START_TIMEOUT_MS,
      stopTimeoutMs: RECORDER_STOP_TIMEOUT_MS,
      description: `accept recorder on ${urlHost(address)}:${port} in ${host.namespace}`,
    },
  );
  const stop = async (): Promise<readonly string[]> => {
    await listener.stop();
    return listener.accepted();
  };
  return { host, address, port, accepts: () => listener.accepted(), stop };
}

/**
 * The data ports named by every `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` in a client's trace
 * (curl --verbose, ftplib's debug and lftp's `debug` all print the reply on stderr), in order.
 */
export function pasvPortsOf(trace: string): number[] {
  return [...trace.matchAll(/227 Entering Passive Mode \((?:\d{1,3},){4}(\d{1,3}),(\d{1,3})\)/g)].map(
    (match) => Number(match[1]) * 256 + Number(match[2]),
  );
}

/** One line for a failure message: what ran, how it ended, and the tail of its stderr. */
export function describeRun(run: RunResult): string {
  const ending = run.timedOut ? 'was killed after its time bound' : `exited ${run.code ?? run.signal}`;
  const tail = run.stderr.split('\n').slice(-40).join('\n');
  return `${run.command}\n${ending} after ${run.durationMs} ms; stderr (tail):\n${tail}`;
}
