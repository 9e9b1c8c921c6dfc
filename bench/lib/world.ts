/**
 * The benchmark's network and processes, built once per run and torn down at its end:
 *
 *   client ns (203.0.113.2) ── gateway ns (203.0.113.10 | 10.0.11.1) ── server ns (10.0.11.251)
 *
 * All four variants stand side by side, so rounds can interleave without reconfiguring anything:
 *
 *   (a) direct   203.0.113.10:21   kernel DNAT of 21 and 60000-62000 -> ProFTPD "fixed" :21
 *                                   (MasqueradeAddress 203.0.113.10, passive 61001-62000)
 *   (b) relay    203.0.113.10:2101 ftpmasq --mode relay   -> ProFTPD "legacy" :2121 (passive 60000-61000);
 *                                   ftpmasq passive 50000-50999
 *   (c) rewrite  203.0.113.10:2102 ftpmasq --mode rewrite -> ProFTPD "legacy"; data by the DNAT above
 *   (d) modproxy 203.0.113.10:2103 ProFTPD mod_proxy (reverse) -> ProFTPD "legacy"; passive 52000-52999
 *   (e) kernel   203.0.113.10:2107 ftpmasq --mode kernel  -> ProFTPD "legacy"; ftpmasq passive 57000-57999,
 *                                   each transfer forwarded by ftpmasq's nftables table (issue 14)
 *
 * Started on first use, for the FTPS scenarios (issue 12), both terminating explicit FTPS (AUTH TLS,
 * PROT P) in front of the same plain "legacy" ProFTPD, with one certificate made by openssl at run time:
 *
 *   (b) relay    203.0.113.10:2108 ftpmasq --mode relay --tls-cert/--tls-key; passive 56000-56999
 *   (d) modproxy 203.0.113.10:2109 ProFTPD mod_proxy with mod_tls towards clients; passive 58000-58999
 *
 * The namespaces come from the end-to-end harness (test/helpers/topology.ts); the NAT rules,
 * the ProFTPD instances and the proxies are the benchmark's own. Every address used is inside
 * these namespaces.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomFillSync, createHash } from 'node:crypto';
import { existsSync, openSync, closeSync, readFileSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdir, open, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireE2ePrerequisites, type E2eTools } from '../../test/helpers/prerequisites.js';
import { cryptPassword, waitForExit } from '../../test/helpers/proftpd.js';
import { runChecked, waitForFtpBanner } from '../../test/helpers/topology.js';
import { type BenchNetwork, PUBLIC_ADDRESS, SERVER_ADDRESS, createBenchNetwork, isLiveBenchRun } from './network.js';
import { reverseProxyConfig, serverConfig } from './proftpd-config.js';
import { childrenOf } from './proc.js';

export const VARIANTS = ['direct', 'relay', 'rewrite', 'modproxy', 'kernel'] as const;
export type Variant = (typeof VARIANTS)[number];

export const VARIANT_LABELS: Readonly<Record<Variant, string>> = {
  direct: '(a) direct NAT',
  relay: '(b) ftpmasq relay',
  rewrite: '(c) ftpmasq rewrite',
  modproxy: '(d) mod_proxy',
  kernel: '(e) ftpmasq kernel',
};

export const FTP_USER = 'scott';
export const FTP_PASSWORD = 'tiger';
const FTP_UID = 65534;
const FTP_GID = 65534;

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI_PATH = join(REPO_ROOT, 'dist', 'cli.js');
export const LOAD_CLIENT_PATH = join(REPO_ROOT, 'dist-bench', 'bench', 'load-client.js');
const SCRIPTED_UPSTREAM_PATH = join(REPO_ROOT, 'dist-bench', 'bench', 'scripted-upstream.js');

const WORK_PREFIX = 'fmq-bench-';
/**
 * File descriptors for every process the benchmark starts: 5,000 sessions need 10,000 and more in
 * ftpmasq. The soft limit is raised to the hard one (raising the hard limit itself needs
 * CAP_SYS_RESOURCE, which a container's root may not have).
 */
export const FD_LIMIT = hardFdLimit();

function hardFdLimit(): number {
  const line = readFileSync('/proc/self/limits', 'latin1').split('\n').find((text) => text.startsWith('Max open files'));
  const hard = line?.trim().split(/\s+/)[4];
  return hard === undefined || hard === 'unlimited' ? 1_048_576 : Number(hard);
}

export const PORTS = {
  direct: 21,
  relay: 2101,
  rewrite: 2102,
  modproxy: 2103,
  heldProxy: 2104,
  scriptedRelay: 2105,
  scriptedRewrite: 2106,
  kernel: 2107,
  ftpsRelay: 2108,
  ftpsModproxy: 2109,
  legacyServer: 2121,
  fixedServer: 21,
  scriptedUpstream: 2200,
  scriptedDirect: 2201,
} as const;

export interface BenchTools extends E2eTools {
  readonly prlimit: string;
  readonly time: string;
}

export interface FileInfo {
  readonly name: string;
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export interface Sizes {
  readonly transferBytes: number;
  readonly parallelBytes: number;
}

export interface RunningProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  stop(): Promise<void>;
}

/** Where a measurement's sessions go, and whose CPU and memory it reads. */
export interface Target {
  readonly variant: Variant;
  readonly endpoint: { readonly host: string; readonly port: number };
  /** The proxy's process; undefined for the kernel NAT. */
  readonly proxy: RunningProcess | undefined;
  /** mod_proxy: one child process per session, whose CPU lands in the master once reaped. */
  readonly forkingProxy: boolean;
  /**
   * ftpmasq --workers: its children (the workers) are summed like mod_proxy's, but they serve
   * every session and live on, so nothing waits for them to exit.
   */
  readonly childrenStay?: boolean;
  /** The FTP server that the sessions end at. */
  readonly server: RunningProcess;
}

/** The FTPS terminators (ftpmasq relay and mod_proxy) in front of the plain legacy ProFTPD. */
export interface FtpsSet {
  target(variant: Variant): Target | undefined;
}

/** The scripted upstream and the proxies in front of it (no mod_proxy: it forks per session anyway). */
export interface ScriptedSet {
  readonly upstream: RunningProcess;
  target(variant: Variant): Target | undefined;
}

export interface World {
  readonly tools: BenchTools;
  readonly topology: BenchNetwork;
  readonly workDir: string;
  readonly ftpRoot: string;
  readonly files: { readonly big: FileInfo; readonly parallel: FileInfo; readonly sample: FileInfo };
  readonly fixedServer: RunningProcess;
  readonly legacyServer: RunningProcess;
  readonly processes: Readonly<Record<Variant, RunningProcess | undefined>>;
  /** The variant in front of real ProFTPD. */
  target(variant: Variant): Target;
  startFtpmasq(options: FtpmasqStart): Promise<RunningProcess>;
  /** Started on first use: the scripted upstream (LegacyFtpServer) with ftpmasq relay and rewrite in front. */
  scripted(): Promise<ScriptedSet>;
  /** Started on first use: ftpmasq relay and mod_proxy terminating explicit FTPS (issue 12). */
  ftps(): Promise<FtpsSet>;
  /** `ip netns exec <client> prlimit ... <file> <args>` as an argv. */
  clientArgv(file: string, args: readonly string[]): string[];
  teardown(): Promise<void>;
}

export interface FtpmasqStart {
  readonly name: string;
  readonly mode: 'relay' | 'rewrite' | 'kernel';
  readonly listenPort: number;
  readonly upstreamPort: number;
  readonly passivePorts: string;
  readonly metricsPort: number;
  readonly cpuProfileDir?: string | undefined;
  /** More flags for this instance (the FTPS certificate). */
  readonly extraArgs?: readonly string[];
  /** `--workers N`: ready once every worker has logged `ftpmasq ready`. */
  readonly workers?: number | undefined;
}

function findTool(candidates: readonly string[], aptPackage: string, problems: string[]): string {
  const found = candidates.find((path) => existsSync(path));
  if (found === undefined) problems.push(`apt-get install ${aptPackage}`);
  return found ?? '';
}

export function requireBenchTools(): BenchTools {
  const e2e = requireE2ePrerequisites();
  const problems: string[] = [];
  const prlimit = findTool(['/usr/bin/prlimit', '/bin/prlimit'], 'util-linux', problems);
  const time = findTool(['/usr/bin/time'], 'time', problems);
  findTool(['/usr/lib/proftpd/mod_proxy.so'], 'proftpd-mod-proxy', problems);
  if (problems.length > 0) throw new Error(`benchmark prerequisites not met: ${problems.join('; ')}`);
  return { ...e2e, prlimit, time };
}

async function writeRandomFile(path: string, size: number): Promise<FileInfo> {
  const hash = createHash('sha256');
  const handle = await open(path, 'w');
  const chunk = Buffer.allocUnsafe(1 << 20);
  try {
    for (let written = 0; written < size; written += chunk.length) {
      const piece = chunk.subarray(0, Math.min(chunk.length, size - written));
      randomFillSync(piece);
      hash.update(piece);
      await handle.write(piece);
    }
  } finally {
    await handle.close();
  }
  return { name: path.split('/').at(-1) ?? path, path, size, sha256: hash.digest('hex') };
}


/** Starts a long-lived program with stdout and stderr to a log file; stop() is SIGTERM, then SIGKILL. */
function spawnLogged(name: string, argv: readonly string[], logPath: string): { child: ChildProcess; process: RunningProcess } {
  const fd = openSync(logPath, 'a');
  const [file, ...args] = argv;
  if (file === undefined) throw new Error('empty argv');
  const child = spawn(file, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.on('error', () => undefined);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 10_000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5_000);
      }
    })();
    return stopping;
  };
  if (child.pid === undefined) throw new Error(`cannot start ${name}: ${argv.join(' ')}`);
  return { child, process: { name, pid: child.pid, logPath, stop } };
}

async function waitForLogLine(path: string, needle: string, child: ChildProcess, timeoutMs: number, times = 1): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if (text.split(needle).length - 1 >= times) return;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`exited before "${needle}":\n${text.slice(-3000)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no "${needle}" in ${path} within ${timeoutMs} ms:\n${readFileSync(path, 'utf8').slice(-3000)}`);
}

async function removeStaleWorkDirs(): Promise<void> {
  for (const name of readdirSync('/dev/shm')) {
    const match = /^fmq-bench-(\d+)$/.exec(name);
    if (match?.[1] === undefined) continue;
    const owner = Number(match[1]);
    if (owner === process.pid || !isLiveBenchRun(owner)) await rm(join('/dev/shm', name), { recursive: true, force: true });
  }
}

export interface WorldOptions {
  readonly sizes: Sizes;
  readonly maxInstances: number;
  readonly cpuProfileDir?: string | undefined;
  readonly log: (line: string) => void;
}

export async function createWorld(options: WorldOptions): Promise<World> {
  const { log } = options;
  const tools = requireBenchTools();
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run npm run build`);
  await removeStaleWorkDirs();
  // tmpfs: the transferred files are read from and written to memory, never to a disk.
  const workDir = join('/dev/shm', `${WORK_PREFIX}${process.pid}`);
  const undo: (() => Promise<void>)[] = [];
  const teardown = async (): Promise<void> => {
    for (const step of undo.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        log(`teardown step failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  };
  try {
    await mkdir(workDir, { recursive: true, mode: 0o755 });
    undo.push(() => rm(workDir, { recursive: true, force: true }));
    const ftpRoot = join(workDir, 'ftp-root');
    await mkdir(ftpRoot);
    await chown(ftpRoot, FTP_UID, FTP_GID);
    await chmod(ftpRoot, 0o755);

    log(`writing ${options.sizes.transferBytes} + ${options.sizes.parallelBytes} random bytes to ${ftpRoot}`);
    const big = await writeRandomFile(join(ftpRoot, 'big.bin'), options.sizes.transferBytes);
    const parallel = await writeRandomFile(join(ftpRoot, 'parallel.bin'), options.sizes.parallelBytes);
    const sampleBytes = Buffer.from('hello, ftp!\n', 'ascii'); // exactly 12 bytes
    await writeFile(join(ftpRoot, 'sample.txt'), sampleBytes);
    const sample: FileInfo = {
      name: 'sample.txt',
      path: join(ftpRoot, 'sample.txt'),
      size: sampleBytes.length,
      sha256: createHash('sha256').update(sampleBytes).digest('hex'),
    };
    for (const file of [big, parallel, sample]) await chown(file.path, FTP_UID, FTP_GID);

    log('creating network namespaces');
    const topology = await createBenchNetwork(tools.ip);
    undo.push(() => topology.destroy());
    const inNs = (namespace: string, script: string): Promise<unknown> =>
      runChecked(tools.ip, ['netns', 'exec', namespace, '/bin/sh', '-c', script]);
    // Per-namespace TCP settings: ephemeral ports below every passive range, reuse of TIME_WAIT
    // ports for outgoing connections, and at most 2,048 TIME_WAIT sockets: tens of thousands of
    // short sessions otherwise fill the server namespace with TIME_WAIT, and every bind to port 0
    // (the scripted upstream's passive listeners) slows down, from 2,300 to 400 sessions/s.
    const sysctls = [
      'echo "10000 49999" > /proc/sys/net/ipv4/ip_local_port_range',
      'echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse',
      'echo 2048 > /proc/sys/net/ipv4/tcp_max_tw_buckets',
      'echo 8192 > /proc/sys/net/core/somaxconn',
      'echo 8192 > /proc/sys/net/ipv4/tcp_max_syn_backlog',
    ].join('; ');
    for (const namespace of [topology.client.namespace, topology.gateway, topology.server]) await inNs(namespace, sysctls);
    const iptables = (args: readonly string[]): Promise<unknown> =>
      runChecked(tools.ip, ['netns', 'exec', topology.gateway, tools.iptables, '-w', '5', ...args]);
    // (a) and (c): the kernel's 1:1 NAT of the control port and the servers' passive ranges.
    await iptables(['-t', 'nat', '-A', 'PREROUTING', '-i', 'br0', '-d', PUBLIC_ADDRESS, '-p', 'tcp', '--dport', '21', '-j', 'DNAT', '--to-destination', SERVER_ADDRESS]);
    await iptables(['-t', 'nat', '-A', 'PREROUTING', '-i', 'br0', '-d', PUBLIC_ADDRESS, '-p', 'tcp', '--dport', '60000:62000', '-j', 'DNAT', '--to-destination', SERVER_ADDRESS]);
    // The scripted upstream's control port for the direct path, and its passive ports: it binds
    // ephemeral ports, which the server namespace keeps in 10000-49999 (set above).
    await iptables(['-t', 'nat', '-A', 'PREROUTING', '-i', 'br0', '-d', PUBLIC_ADDRESS, '-p', 'tcp', '--dport', String(PORTS.scriptedDirect), '-j', 'DNAT', '--to-destination', SERVER_ADDRESS]);
    await iptables(['-t', 'nat', '-A', 'PREROUTING', '-i', 'br0', '-d', PUBLIC_ADDRESS, '-p', 'tcp', '--dport', '10000:49999', '-j', 'DNAT', '--to-destination', SERVER_ADDRESS]);
    await inNs(topology.gateway, 'echo 1 > /proc/sys/net/ipv4/ip_forward');

    const hash = await cryptPassword(tools.openssl, FTP_PASSWORD);
    const startProftpd = async (name: string, namespace: string, config: (runDir: string) => string): Promise<RunningProcess> => {
      const runDir = join(workDir, name);
      await mkdir(runDir, { recursive: true, mode: 0o755 });
      await writeFile(join(runDir, 'ftpd.passwd'), `${FTP_USER}:${hash}:${FTP_UID}:${FTP_GID}::${ftpRoot}:/bin/false\n`, { mode: 0o600 });
      await writeFile(join(runDir, 'ftpd.group'), `nogroup:x:${FTP_GID}:${FTP_USER}\n`, { mode: 0o600 });
      const configPath = join(runDir, 'proftpd.conf');
      await writeFile(configPath, config(runDir), { mode: 0o644 });
      await runChecked(tools.ip, [...topology.execArgs(namespace), tools.proftpd, '-t', '-c', configPath]);
      const argv = [tools.ip, ...topology.execArgs(namespace), tools.prlimit, `--nofile=${FD_LIMIT}:${FD_LIMIT}`, '--', tools.proftpd, '-n', '-c', configPath];
      const { process: running } = spawnLogged(name, argv, join(runDir, 'stderr.log'));
      undo.push(() => running.stop());
      return running;
    };
    const waitForBanner = async (server: RunningProcess, fromNamespace: string, host: string, port: number): Promise<void> => {
      try {
        await waitForFtpBanner(tools.ip, topology.execArgs(fromNamespace), host, port, 15_000);
      } catch (error) {
        const runDir = dirname(server.logPath);
        const logs = ['stderr.log', 'proftpd.log', 'proxy.log']
          .map((name) => join(runDir, name))
          .filter((path) => existsSync(path))
          .map((path) => `--- ${path}\n${readFileSync(path, 'utf8').slice(-3000)}`);
        throw new Error(`${server.name}: ${error instanceof Error ? error.message : String(error)}\n${logs.join('\n')}`);
      }
    };

    log('starting ProFTPD (legacy and fixed) and mod_proxy');
    const maxInstances = options.maxInstances;
    const legacyServer = await startProftpd('proftpd-legacy', topology.server, (runDir) =>
      serverConfig({ runDir, port: PORTS.legacyServer, passivePorts: { low: 60000, high: 61000 }, maxInstances }),
    );
    const fixedServer = await startProftpd('proftpd-fixed', topology.server, (runDir) =>
      serverConfig({
        runDir,
        port: PORTS.fixedServer,
        passivePorts: { low: 61001, high: 62000 },
        masqueradeAddress: PUBLIC_ADDRESS,
        maxInstances,
      }),
    );
    const modproxy = await startProftpd('proftpd-modproxy', topology.gateway, (runDir) =>
      reverseProxyConfig({
        runDir,
        port: PORTS.modproxy,
        passivePorts: { low: 52000, high: 52999 },
        backend: `ftp://${SERVER_ADDRESS}:${PORTS.legacyServer}`,
        maxInstances,
      }),
    );
    const gatewayArgs = topology.execArgs(topology.gateway);
    await waitForBanner(legacyServer, topology.gateway, SERVER_ADDRESS, PORTS.legacyServer);
    await waitForBanner(fixedServer, topology.gateway, SERVER_ADDRESS, PORTS.fixedServer);
    await waitForBanner(modproxy, topology.gateway, PUBLIC_ADDRESS, PORTS.modproxy);

    const startFtpmasq = async (start: FtpmasqStart): Promise<RunningProcess> => {
      const profile = start.cpuProfileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', start.cpuProfileDir];
      const argv = [
        tools.ip, ...gatewayArgs, tools.prlimit, `--nofile=${FD_LIMIT}:${FD_LIMIT}`, '--',
        process.execPath, ...profile, CLI_PATH,
        '--listen', `${PUBLIC_ADDRESS}:${start.listenPort}`,
        '--upstream', `${SERVER_ADDRESS}:${start.upstreamPort}`,
        '--public-address', PUBLIC_ADDRESS,
        '--passive-ports', start.passivePorts,
        '--mode', start.mode,
        '--metrics-listen', `127.0.0.1:${start.metricsPort}`,
        ...(start.extraArgs ?? []),
        // One process unless a scenario asks for workers: the figures per process (CPU per session,
        // per GiB, memory) and the comparison with earlier runs assume it, whatever the cores.
        '--workers', String(start.workers ?? 1),
      ];
      const logPath = join(workDir, `${start.name}.log`);
      const { child, process: running } = spawnLogged(start.name, argv, logPath);
      undo.push(() => running.stop());
      await waitForLogLine(logPath, 'ftpmasq ready', child, 15_000, start.workers ?? 1);
      return running;
    };

    log('starting ftpmasq (relay, rewrite and kernel)');
    const relay = await startFtpmasq({
      name: 'ftpmasq-relay', mode: 'relay', listenPort: PORTS.relay, upstreamPort: PORTS.legacyServer,
      passivePorts: '50000-50999', metricsPort: 9464, cpuProfileDir: options.cpuProfileDir,
    });
    const rewrite = await startFtpmasq({
      name: 'ftpmasq-rewrite', mode: 'rewrite', listenPort: PORTS.rewrite, upstreamPort: PORTS.legacyServer,
      passivePorts: '51000-51999', metricsPort: 9465, cpuProfileDir: options.cpuProfileDir,
    });
    // Its passive range is outside the DNAT ranges above: its own nftables rules forward it.
    const kernel = await startFtpmasq({
      name: 'ftpmasq-kernel', mode: 'kernel', listenPort: PORTS.kernel, upstreamPort: PORTS.legacyServer,
      passivePorts: '57000-57999', metricsPort: 9469, cpuProfileDir: options.cpuProfileDir,
    });
    const clientArgs = topology.execArgs(topology.client.namespace);
    for (const port of [PORTS.direct, PORTS.relay, PORTS.rewrite, PORTS.modproxy, PORTS.kernel]) {
      await waitForFtpBanner(tools.ip, clientArgs, PUBLIC_ADDRESS, port, 15_000);
    }

    let scripted: Promise<ScriptedSet> | undefined;
    const startScripted = async (): Promise<ScriptedSet> => {
      const argv = [
        tools.ip, ...topology.execArgs(topology.server), tools.prlimit, `--nofile=${FD_LIMIT}:${FD_LIMIT}`, '--',
        process.execPath, SCRIPTED_UPSTREAM_PATH, '0.0.0.0',
        `${PORTS.scriptedUpstream}:${SERVER_ADDRESS}`, `${PORTS.scriptedDirect}:${PUBLIC_ADDRESS}`,
      ];
      const logPath = join(workDir, 'scripted-upstream.log');
      const { child, process: upstream } = spawnLogged('scripted-upstream', argv, logPath);
      undo.push(() => upstream.stop());
      await waitForLogLine(logPath, 'listening', child, 15_000);
      const scriptedRelay = await startFtpmasq({
        name: 'ftpmasq-scripted-relay', mode: 'relay', listenPort: PORTS.scriptedRelay, upstreamPort: PORTS.scriptedUpstream,
        passivePorts: '53000-53999', metricsPort: 9467, cpuProfileDir: options.cpuProfileDir,
      });
      const scriptedRewrite = await startFtpmasq({
        name: 'ftpmasq-scripted-rewrite', mode: 'rewrite', listenPort: PORTS.scriptedRewrite, upstreamPort: PORTS.scriptedUpstream,
        passivePorts: '55000-55999', metricsPort: 9468, cpuProfileDir: options.cpuProfileDir,
      });
      const targets: Partial<Record<Variant, Target>> = {
        direct: { variant: 'direct', endpoint: { host: PUBLIC_ADDRESS, port: PORTS.scriptedDirect }, proxy: undefined, forkingProxy: false, server: upstream },
        relay: { variant: 'relay', endpoint: { host: PUBLIC_ADDRESS, port: PORTS.scriptedRelay }, proxy: scriptedRelay, forkingProxy: false, server: upstream },
        rewrite: { variant: 'rewrite', endpoint: { host: PUBLIC_ADDRESS, port: PORTS.scriptedRewrite }, proxy: scriptedRewrite, forkingProxy: false, server: upstream },
      };
      return { upstream, target: (variant) => targets[variant] };
    };

    let ftps: Promise<FtpsSet> | undefined;
    const startFtps = async (): Promise<FtpsSet> => {
      // A self-signed certificate for the public address, made now and removed with the work
      // directory; the clients do not verify it (--insecure): both proxies present the same one.
      const certPath = join(workDir, 'ftps-cert.pem');
      const keyPath = join(workDir, 'ftps-key.pem');
      await runChecked(tools.openssl, [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${PUBLIC_ADDRESS}`,
        '-addext', `subjectAltName=IP:${PUBLIC_ADDRESS}`, '-keyout', keyPath, '-out', certPath,
      ]);
      log('starting the FTPS terminators (ftpmasq relay and mod_proxy with mod_tls)');
      const modproxyTls = await startProftpd('proftpd-modproxy-ftps', topology.gateway, (runDir) =>
        reverseProxyConfig({
          runDir,
          port: PORTS.ftpsModproxy,
          passivePorts: { low: 58000, high: 58999 },
          backend: `ftp://${SERVER_ADDRESS}:${PORTS.legacyServer}`,
          maxInstances,
          tls: { certPath, keyPath },
        }),
      );
      const relayTls = await startFtpmasq({
        name: 'ftpmasq-ftps-relay', mode: 'relay', listenPort: PORTS.ftpsRelay, upstreamPort: PORTS.legacyServer,
        passivePorts: '56000-56999', metricsPort: 9470, cpuProfileDir: options.cpuProfileDir,
        extraArgs: ['--tls-cert', certPath, '--tls-key', keyPath],
      });
      for (const port of [PORTS.ftpsModproxy, PORTS.ftpsRelay]) await waitForFtpBanner(tools.ip, clientArgs, PUBLIC_ADDRESS, port, 15_000);
      const targets: Partial<Record<Variant, Target>> = {
        relay: { variant: 'relay', endpoint: { host: PUBLIC_ADDRESS, port: PORTS.ftpsRelay }, proxy: relayTls, forkingProxy: false, server: legacyServer },
        modproxy: { variant: 'modproxy', endpoint: { host: PUBLIC_ADDRESS, port: PORTS.ftpsModproxy }, proxy: modproxyTls, forkingProxy: true, server: legacyServer },
      };
      return { target: (variant) => targets[variant] };
    };

    const processes: Record<Variant, RunningProcess | undefined> = { direct: undefined, relay, rewrite, modproxy, kernel };
    const world: World = {
      tools,
      topology,
      workDir,
      ftpRoot,
      files: { big, parallel, sample },
      fixedServer,
      legacyServer,
      processes,
      target: (variant) => ({
        variant,
        endpoint: { host: PUBLIC_ADDRESS, port: PORTS[variant] },
        proxy: processes[variant],
        forkingProxy: variant === 'modproxy',
        server: variant === 'direct' ? fixedServer : legacyServer,
      }),
      startFtpmasq,
      scripted: () => (scripted ??= startScripted()),
      ftps: () => (ftps ??= startFtps()),
      clientArgv: (file, args) => [tools.ip, ...clientArgs, tools.prlimit, `--nofile=${FD_LIMIT}:${FD_LIMIT}`, '--', file, ...args],
      teardown,
    };
    return world;
  } catch (error) {
    await teardown();
    throw error;
  }
}

/** Waits (bounded) until a forking server has reaped every session child beyond `baseline`. */
export async function waitForChildren(pid: number, atMost: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (childrenOf(pid).length <= atMost) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}
