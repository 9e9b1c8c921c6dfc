/**
 * The FTP clients of the matrix, each run inside a client host's namespace, each bounded in time so a
 * failure is fast and never hangs:
 *
 * - `curl-legacy`: `--disable-epsv --no-ftp-skip-pasv-ip` sends PASV and dials the address inside the 227
 *   reply, as curl did before 7.74 (and as many embedded and scripted clients still do).
 * - `curl-epsv`: today's curl defaults: EPSV, so the data connection goes to the control peer's address.
 * - `python-ftplib`: ftplib with `trust_server_pasv_ipv4_address = True` (Python before 3.6.13 dialled
 *   the 227 address too).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FTP_PASSWORD, FTP_USER } from './proftpd.js';
import type { E2eTools } from './prerequisites.js';
import type { ClientHost, RunResult, Topology } from './topology.js';

export type ClientKind = 'curl-legacy' | 'curl-epsv' | 'python-ftplib';
export const CLIENT_KINDS: readonly ClientKind[] = ['curl-legacy', 'curl-epsv', 'python-ftplib'];

const FTPLIB_CLIENT = join(dirname(fileURLToPath(import.meta.url)), '..', 'e2e', 'support', 'ftplib-client.py');
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
}

// A UTF-8 locale so python's argv and stderr carry the Japanese file name as it is.
const CLIENT_ENV: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C.UTF-8', PYTHONIOENCODING: 'utf-8:backslashreplace' };

export function createClient(kind: ClientKind, options: ClientOptions): FtpClient {
  switch (kind) {
    case 'curl-legacy':
      return createCurlClient(kind, options, ['--disable-epsv', '--no-ftp-skip-pasv-ip']);
    case 'curl-epsv':
      return createCurlClient(kind, options, []);
    case 'python-ftplib':
      return createFtplibClient(options);
    default: {
      const unknown: never = kind;
      throw new Error(`unknown client ${String(unknown)}`);
    }
  }
}

function createCurlClient(kind: ClientKind, options: ClientOptions, modeArgs: readonly string[]): FtpClient {
  const { tools, topology, host, endpoint } = options;
  const base = `ftp://${endpoint.address}:${endpoint.port}/`;
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

function createFtplibClient(options: ClientOptions): FtpClient {
  const { tools, topology, host, endpoint } = options;
  const ftplib = (args: readonly string[]): Promise<RunResult> =>
    topology.exec(
      host.namespace,
      tools.python3,
      [FTPLIB_CLIENT, endpoint.address, String(endpoint.port), FTP_USER, FTP_PASSWORD, String(CLIENT_TIMEOUT_S), ...args],
      { timeoutMs: PROCESS_TIMEOUT_MS, env: CLIENT_ENV },
    );
  return {
    kind: 'python-ftplib',
    host,
    async list() {
      const run = await ftplib(['list']);
      return { run, listing: run.stdout.toString('utf8') };
    },
    download: (remoteName, localPath) => ftplib(['get', remoteName, localPath]),
    upload: (localPath, remoteName) => ftplib(['put', localPath, remoteName]),
  };
}

/** One line for a failure message: what ran, how it ended, and the tail of its stderr. */
export function describeRun(run: RunResult): string {
  const ending = run.timedOut ? 'was killed after its time bound' : `exited ${run.code ?? run.signal}`;
  const tail = run.stderr.split('\n').slice(-40).join('\n');
  return `${run.command}\n${ending} after ${run.durationMs} ms; stderr (tail):\n${tail}`;
}
