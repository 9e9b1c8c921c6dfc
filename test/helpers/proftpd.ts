/**
 * Debian's real ProFTPD 1.3.8 as the legacy FTP server, run in the server namespace in the foreground
 * (`proftpd -n`) as a child process that this module owns, with the fixture files in its FTP root.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, chown, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { E2eTools } from './prerequisites.js';
import {
  type Topology,
  GATEWAY_PRIVATE_ADDRESS,
  SERVER_ADDRESS,
  SERVER_PASSIVE_PORTS,
  runChecked,
  waitForFtpBanner,
} from './topology.js';

export const FTP_USER = 'scott';
export const FTP_PASSWORD = 'tiger';
/** The unprivileged account that the virtual user maps to (Debian's nobody/nogroup). */
const FTP_UID = 65534;
const FTP_GID = 65534;

const TEMPLATE = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'proftpd', 'proftpd.conf.template');
const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

export interface FileFigures {
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
}

export const SAMPLE_FILE = 'sample.txt';
export const JAPANESE_FILE = '進捗どうですか.jpg';
export const LARGE_FILE = 'random-64MiB.bin';

/** Writes `size` random bytes to `path` and returns the figures, hashing while it writes. */
export async function writeRandomFile(path: string, size: number): Promise<FileFigures> {
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  try {
    const chunkSize = 1 << 20;
    for (let written = 0; written < size; written += chunkSize) {
      const chunk = randomBytes(Math.min(chunkSize, size - written));
      hash.update(chunk);
      await handle.write(chunk);
    }
  } finally {
    await handle.close();
  }
  return { name: path.split('/').at(-1) ?? path, size, sha256: hash.digest('hex') };
}

export async function figuresOf(path: string, name: string): Promise<FileFigures> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    if (!Buffer.isBuffer(chunk)) throw new Error(`unexpected chunk type reading ${path}`);
    size += chunk.length;
    hash.update(chunk);
  }
  return { name, size, sha256: hash.digest('hex') };
}

/**
 * The files in the FTP root, created fresh for each run (nothing big is committed). Without
 * `large` (a second server that needs only small files) the 64 MiB one is left out.
 */
export async function createServerFixtures(root: string, large = true): Promise<ReadonlyMap<string, FileFigures>> {
  const sample = Buffer.from('hello, ftp!\n', 'ascii'); // exactly 12 bytes
  await writeFile(join(root, SAMPLE_FILE), sample);
  const files: FileFigures[] = [
    { name: SAMPLE_FILE, size: sample.length, sha256: createHash('sha256').update(sample).digest('hex') },
    { ...(await writeRandomFile(join(root, JAPANESE_FILE), 37 * 1024 + 123)), name: JAPANESE_FILE },
    ...(large ? [await writeRandomFile(join(root, LARGE_FILE), 64 * 1024 * 1024)] : []),
  ];
  for (const file of files) await chown(join(root, file.name), FTP_UID, FTP_GID);
  return new Map(files.map((file) => [file.name, file]));
}

export interface ProftpdOptions {
  readonly tools: E2eTools;
  readonly topology: Topology;
  /** A directory of this run; ProFTPD gets `<workDir>/proftpd` (config, logs) and `<workDir>/ftp-root`. */
  readonly workDir: string;
  /** Adds `MasqueradeAddress <address>`: the fixed legacy setup, for tests that need one. */
  readonly masqueradeAddress?: string;
  /**
   * Another instance beside the first in the same server namespace: its own run dir and FTP root
   * (`<workDir>/proftpd-<name>`, `<workDir>/ftp-root-<name>`), ServerName, control port and
   * passive range. Without it: `proftpd`, `ftp-root`, port 21, {@link SERVER_PASSIVE_PORTS}.
   */
  readonly instance?: ProftpdInstance;
  /** Directives appended to the configuration (mod_tls for the upstream-TLS tests). */
  readonly extraConfig?: string;
}

export interface ProftpdInstance {
  /** Lower-case letters and digits; names the directories and goes into the ServerName. */
  readonly name: string;
  readonly port: number;
  readonly passivePorts: { readonly first: number; readonly last: number };
  /** Whether the 64 MiB fixture is written too (default false: a second server's small files suffice). */
  readonly largeFixture?: boolean;
}

const DEFAULT_SERVER_NAME = 'ftpmasq e2e legacy server';

export interface ProftpdServer {
  /** The FTP root on disk (the virtual user's home and chroot). */
  readonly root: string;
  readonly fixtures: ReadonlyMap<string, FileFigures>;
  /** The control port it listens on (10.0.11.251:port). */
  readonly port: number;
  /** Its first reply line, `220 ProFTPD Server (<ServerName>) [10.0.11.251]`. */
  readonly banner: string;
  /** ProFTPD's SystemLog, for failure messages. */
  readLog(): Promise<string>;
  /** SIGTERM, then SIGKILL after a bound. Idempotent. */
  stop(): Promise<void>;
  /**
   * Starts it again with the same configuration and files, after it was killed (or stops it
   * first); resolves once its banner is seen from the gateway again.
   */
  restart(): Promise<void>;
}

function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{([A-Z_]+)\}\}/g, (whole, key: string) => {
    const value = values[key];
    if (value === undefined) throw new Error(`proftpd.conf.template: no value for ${whole}`);
    return value;
  });
}

export async function cryptPassword(openssl: string, password: string): Promise<string> {
  // SHA-512 crypt, which glibc's crypt(3) in ProFTPD verifies.
  const result = await runChecked(openssl, ['passwd', '-6', '-salt', randomBytes(6).toString('hex'), '-stdin'], {
    stdin: `${password}\n`,
  });
  return result.stdout.toString('utf8').trim();
}

/** True when the child exited within the time; false when it is still running. */
export function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export async function startProftpd(options: ProftpdOptions): Promise<ProftpdServer> {
  const { tools, topology, instance } = options;
  const suffix = instance === undefined ? '' : `-${instance.name}`;
  if (instance !== undefined && !/^[a-z0-9]+$/.test(instance.name)) {
    throw new Error(`a ProFTPD instance name is lower-case letters and digits, got ${JSON.stringify(instance.name)}`);
  }
  const port = instance?.port ?? 21;
  const passivePorts = instance?.passivePorts ?? SERVER_PASSIVE_PORTS;
  const runDir = join(options.workDir, `proftpd${suffix}`);
  const root = join(options.workDir, `ftp-root${suffix}`);
  await mkdir(runDir, { recursive: true, mode: 0o755 });
  await mkdir(root, { recursive: true });
  // The work dir comes from mkdtemp (0700); the FTP account must be able to reach its home.
  await chmod(options.workDir, 0o755);
  await chmod(runDir, 0o755);
  await chown(root, FTP_UID, FTP_GID);
  await chmod(root, 0o755);
  const fixtures = await createServerFixtures(root, instance === undefined ? true : instance.largeFixture === true);

  const hash = await cryptPassword(tools.openssl, FTP_PASSWORD);
  await writeFile(join(runDir, 'ftpd.passwd'), `${FTP_USER}:${hash}:${FTP_UID}:${FTP_GID}::${root}:/bin/false\n`, {
    mode: 0o600,
  });
  await writeFile(join(runDir, 'ftpd.group'), `nogroup:x:${FTP_GID}:${FTP_USER}\n`, { mode: 0o600 });
  const config = fill(await readFile(TEMPLATE, 'utf8'), {
    RUN_DIR: runDir,
    SERVER_NAME: instance === undefined ? DEFAULT_SERVER_NAME : `${DEFAULT_SERVER_NAME} ${instance.name}`,
    PORT: String(port),
    PASSIVE_PORTS: `${passivePorts.first} ${passivePorts.last}`,
    MASQUERADE: options.masqueradeAddress === undefined ? '' : `MasqueradeAddress     ${options.masqueradeAddress}`,
  });
  const configPath = join(runDir, 'proftpd.conf');
  await writeFile(configPath, `${config}${options.extraConfig ?? ''}`, { mode: 0o644 });
  await runChecked(tools.ip, [...topology.execArgs(topology.server), tools.proftpd, '-t', '-c', configPath]);

  let stderr = '';
  const launch = (): { child: ChildProcess; spawned: Promise<void> } => {
    const launched = spawn(tools.ip, [...topology.execArgs(topology.server), tools.proftpd, '-n', '-c', configPath], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    launched.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const spawned = new Promise<void>((resolve, reject) => {
      launched.once('spawn', resolve);
      launched.once('error', reject);
    });
    return { child: launched, spawned };
  };
  let { child, spawned } = launch();

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    if (!(await waitForExit(child, STOP_TIMEOUT_MS))) {
      child.kill('SIGKILL');
      await waitForExit(child, STOP_TIMEOUT_MS);
    }
  };
  const readLog = async (): Promise<string> => {
    const log = await readFile(join(runDir, 'proftpd.log'), 'utf8').catch(() => '');
    return `${log}${stderr === '' ? '' : `\n[stderr]\n${stderr}`}`;
  };
  const restart = async (): Promise<void> => {
    stopped = false;
    await stop();
    stopped = false;
    ({ child, spawned } = launch());
    await spawned;
    await waitForFtpBanner(tools.ip, topology.execArgs(topology.gateway), SERVER_ADDRESS, port, START_TIMEOUT_MS);
  };

  try {
    await spawned;
    // Proven from the gateway: the address ftpmasq dials, over the private link.
    const banner = await waitForFtpBanner(tools.ip, topology.execArgs(topology.gateway), SERVER_ADDRESS, port, START_TIMEOUT_MS);
    return { root, fixtures, port, banner, readLog, stop, restart };
  } catch (error) {
    await stop();
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`ProFTPD did not come up on ${SERVER_ADDRESS}:${port} (seen from ${GATEWAY_PRIVATE_ADDRESS}): ${reason}\n${await readLog()}`);
  }
}
