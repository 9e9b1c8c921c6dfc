/**
 * One measurement of one figure on one variant. Each returns plain numbers (NaN where a figure
 * does not apply) and the raw evidence, and throws when the transfer itself went wrong (wrong
 * size, wrong checksum, too few sessions held): a wrong figure is worse than none.
 */
import { spawn } from 'node:child_process';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { run } from '../../test/helpers/topology.js';
import type { LoadJob } from '../load-client.js';
import {
  childrenOf,
  childrenPssKiB,
  cpuOfTree,
  type IoCounters,
  type Schedstat,
  peakRssKiB,
  pssAnonKiB,
  pssKiB,
  readIo,
  readSchedstat,
  readSystemCpu,
  resetPeakRss,
  rssKiB,
  systemBusySeconds,
} from './proc.js';
import { FTP_PASSWORD, FTP_USER, LOAD_CLIENT_PATH, type Target, type World, waitForChildren } from './world.js';
import { WorkerSplitWindow } from './worker-split.js';

export type Figures = Record<string, number>;

export interface Measurement {
  readonly figures: Figures;
  readonly notes?: Record<string, unknown>;
}

const GIB = 1024 * 1024 * 1024;

/** CPU and wall clock of the processes that matter, around one measurement. */
class CpuWindow {
  private readonly proxyBefore: number;
  private readonly serverBefore: number;
  private readonly systemBefore = readSystemCpu();
  private readonly t0 = performance.now();

  constructor(private readonly target: Target) {
    this.proxyBefore = target.proxy === undefined ? Number.NaN : cpuOfTree(target.proxy.pid);
    this.serverBefore = cpuOfTree(target.server.pid);
  }

  async close(): Promise<{ proxy: number; server: number; systemBusy: number; softirq: number; wall: number }> {
    const wall = (performance.now() - this.t0) / 1000;
    // Forking servers: a session's CPU is in the parent's totals only once the child is reaped.
    // ftpmasq's workers never exit: waiting 10 s for them put 10 s of idle workers into the figure.
    const { proxy, server } = this.target;
    if (proxy !== undefined && this.target.forkingProxy && this.target.childrenStay !== true) await waitForChildren(proxy.pid, 0, 10_000);
    await waitForChildren(server.pid, 0, 10_000);
    const system = systemBusySeconds(this.systemBefore, readSystemCpu());
    return {
      proxy: proxy === undefined ? Number.NaN : cpuOfTree(proxy.pid) - this.proxyBefore,
      server: cpuOfTree(server.pid) - this.serverBefore,
      systemBusy: system.busy,
      softirq: system.softirq,
      wall,
    };
  }
}

interface CurlFigures {
  readonly size: number;
  readonly timeTotal: number;
  readonly timePretransfer: number;
  readonly clientCpu: number;
  /** curl's stderr: with --verbose, the FTP dialogue and the TLS handshakes. */
  readonly trace: string;
}

async function curl(world: World, target: Target, args: readonly string[]): Promise<CurlFigures> {
  const { host, port } = target.endpoint;
  const url = `ftp://${host}:${port}/`;
  const argv = world.clientArgv(world.tools.time, [
    '-f', 'time %U %S',
    world.tools.curl,
    '--silent', '--show-error',
    '--user', `${FTP_USER}:${FTP_PASSWORD}`,
    // PASV and the address inside the 227, as a legacy client does.
    '--disable-epsv', '--no-ftp-skip-pasv-ip',
    '--connect-timeout', '5', '--max-time', '300',
    '--write-out', '%{size_download} %{size_upload} %{time_total} %{time_pretransfer}\\n',
    ...args.map((arg) => arg.replace('{URL}', url)),
  ]);
  const [file, ...rest] = argv;
  const result = await run(file ?? '', rest, { timeoutMs: 330_000 });
  const out = result.stdout.toString('utf8').trim().split(/\s+/).map(Number);
  const timeLine = result.stderr.split('\n').find((line) => line.startsWith('time ')) ?? '';
  const [, user = 'NaN', system = 'NaN'] = timeLine.split(' ');
  if (result.code !== 0) throw new Error(`curl failed (${result.code}): ${result.stderr.trim()}`);
  const [down = 0, up = 0, total = Number.NaN, pretransfer = Number.NaN] = out;
  return { size: Math.max(down, up), timeTotal: total, timePretransfer: pretransfer, clientCpu: Number(user) + Number(system), trace: result.stderr };
}

/**
 * Explicit FTPS as a modern client asks for it: AUTH TLS, PROT P, TLS on every data connection
 * (curl resumes the control connection's session on them). The certificate is the bench's own
 * self-signed one, so it is not verified.
 */
const FTPS_ARGS = ['--ssl-reqd', '--insecure', '--verbose'] as const;

/**
 * Throws unless curl's trace shows a protected data channel: PROT P accepted and a second TLS
 * handshake (the data connection). Returns the data connection's protocol and cipher.
 */
function requireProtectedData(trace: string): string {
  const handshakes = trace.split('\n').filter((line) => line.startsWith('* SSL connection using'));
  if (!/^> PROT P\r?$/m.test(trace) || !/^< 200/m.test(trace.slice(trace.indexOf('> PROT P'))) || handshakes.length < 2) {
    throw new Error(`not an FTPS transfer with PROT P (${handshakes.length} TLS handshakes): ${trace.slice(-2000)}`);
  }
  return handshakes.at(-1)?.replace('* SSL connection using ', '').trim() ?? '';
}

/** 1 GiB (or --quick's size) download to /dev/null, or upload from tmpfs, with curl; plain FTP or explicit FTPS. */
export async function measureTransfer(
  world: World,
  target: Target,
  direction: 'download' | 'upload',
  tag: string,
  security: 'plain' | 'ftps' = 'plain',
): Promise<Measurement> {
  const file = world.files.big;
  const window = new CpuWindow(target);
  let figures: CurlFigures;
  const remoteName = `upload-${tag}.bin`;
  const tls = security === 'ftps' ? FTPS_ARGS : [];
  if (direction === 'download') {
    figures = await curl(world, target, [...tls, '--output', '/dev/null', `{URL}${file.name}`]);
    if (figures.size !== file.size) throw new Error(`downloaded ${figures.size} bytes, expected ${file.size}`);
  } else {
    figures = await curl(world, target, [...tls, '--upload-file', file.path, `{URL}${remoteName}`]);
  }
  const dataTls = security === 'ftps' ? requireProtectedData(figures.trace) : undefined;
  const cpu = await window.close();
  if (direction === 'upload') {
    const stored = await stat(join(world.ftpRoot, remoteName));
    await rm(join(world.ftpRoot, remoteName), { force: true });
    if (stored.size !== file.size) throw new Error(`the server stored ${stored.size} bytes, expected ${file.size}`);
  }
  const seconds = figures.timeTotal - figures.timePretransfer;
  const gib = file.size / GIB;
  return {
    figures: {
      mbPerSecond: file.size / 1e6 / seconds,
      proxyCpuPerGiB: cpu.proxy / gib,
      serverCpuPerGiB: cpu.server / gib,
      clientCpuPerGiB: figures.clientCpu / gib,
      systemBusyPerGiB: cpu.systemBusy / gib,
      softirqPerGiB: cpu.softirq / gib,
      seconds,
    },
    ...(dataTls === undefined ? {} : { notes: { dataTls } }),
  };
}

interface ClientRecord {
  readonly [key: string]: unknown;
}

function numberOf(record: ClientRecord, key: string): number {
  const value = record[key];
  return typeof value === 'number' ? value : Number.NaN;
}

/** Runs the load client in the client namespace; for hold jobs `drive` talks to it while it holds. */
async function runLoadClient(
  world: World,
  job: LoadJob,
  drive?: (held: ClientRecord, ask: (command: string, event: string) => Promise<ClientRecord>) => Promise<void>,
): Promise<ClientRecord> {
  const argv = world.clientArgv(process.execPath, [LOAD_CLIENT_PATH, JSON.stringify(job)]);
  const [file, ...args] = argv;
  const child = spawn(file ?? '', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const records: ClientRecord[] = [];
  const waiters: Array<{ event: string; resolve: (record: ClientRecord) => void }> = [];
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    let record: ClientRecord;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed !== 'object' || parsed === null) return;
      record = parsed as ClientRecord;
    } catch {
      return;
    }
    const index = waiters.findIndex((waiter) => waiter.event === record['event'] || record['event'] === 'error');
    if (index >= 0) waiters.splice(index, 1)[0]?.resolve(record);
    else records.push(record);
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const next = (event: string): Promise<ClientRecord> => {
    const queued = records.findIndex((record) => record['event'] === event || record['event'] === 'error');
    if (queued >= 0) return Promise.resolve(records.splice(queued, 1)[0] ?? {});
    return new Promise((resolve) => waiters.push({ event, resolve }));
  };
  const bounded = <T>(promise: Promise<T>, what: string): Promise<T> =>
    Promise.race([
      promise,
      exited.then((code): never => {
        throw new Error(`load client exited ${code} while waiting for ${what}: ${stderr.trim()}`);
      }),
    ]);
  try {
    if (drive !== undefined) {
      const held = await bounded(next('held'), 'held');
      if (held['event'] === 'error') throw new Error(`load client: ${String(held['error'])}`);
      await drive(held, async (command, event) => {
        child.stdin.write(`${command}\n`);
        return bounded(next(event), event);
      });
      child.stdin.end();
    }
    const done: ClientRecord = drive === undefined ? await bounded(next('done'), 'its result') : { event: 'released' };
    if (done['event'] === 'error') throw new Error(`load client: ${String(done['error'])}`);
    await exited;
    return done;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

function common(target: Target, maxSeconds: number): { host: string; port: number; user: string; password: string; maxSeconds: number } {
  const { host, port } = target.endpoint;
  return { host, port, user: FTP_USER, password: FTP_PASSWORD, maxSeconds };
}

/** Complete short sessions: connect, USER/PASS, PASV, RETR of 12 bytes, QUIT. */
export async function measureSessions(world: World, target: Target, concurrency: number, count: number, maxSeconds: number): Promise<Measurement> {
  const window = new CpuWindow(target);
  const done = await runLoadClient(world, {
    mode: 'sessions',
    ...common(target, maxSeconds),
    file: world.files.sample.name,
    count,
    concurrency,
  });
  const cpu = await window.close();
  const ok = numberOf(done, 'ok');
  const failed = numberOf(done, 'failed');
  if (failed > 0) throw new Error(`${failed} of ${ok + failed} sessions failed: ${String(done['firstError'])}`);
  return {
    figures: {
      sessionsPerSecond: numberOf(done, 'sessionsPerSecond'),
      p50Ms: numberOf(done, 'p50Ms'),
      p99Ms: numberOf(done, 'p99Ms'),
      proxyCpuMsPerSession: (cpu.proxy * 1000) / ok,
      serverCpuMsPerSession: (cpu.server * 1000) / ok,
      clientCpuMsPerSession: (numberOf(done, 'clientCpuSeconds') * 1000) / ok,
      systemBusyMsPerSession: (cpu.systemBusy * 1000) / ok,
      sessions: ok,
    },
  };
}

/** Anonymous memory of the proxy: ftpmasq's, or mod_proxy's master and session children summed. */
function proxyAnonKiB(target: Target): number {
  if (target.proxy === undefined) return Number.NaN;
  let kib = pssAnonKiB(target.proxy.pid);
  if (target.forkingProxy) for (const child of childrenOf(target.proxy.pid)) kib += pssAnonKiB(child);
  return kib;
}

type ParallelJob = Extract<LoadJob, { mode: 'parallel' }>;

/** `total` split into `parts` whole numbers that differ by at most one, larger first. */
export function splitCount(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, index) => Math.floor(total / parts) + (index < total % parts ? 1 : 0)).filter((n) => n > 0);
}

/**
 * The downloads of `job` split over `clients` load-client processes (one process hashing SHA-256
 * tops out at about one core): each logs in its share, and all start on one `go`. The result is
 * one record as from a single client: sums, and the window from the first start to the last end.
 */
async function runLoadClients(world: World, job: ParallelJob, clients: number): Promise<ClientRecord> {
  const counts = splitCount(job.count, clients);
  let arrived = 0;
  let releaseAll: () => void = () => undefined;
  let failAll: (error: unknown) => void = () => undefined;
  const allHeld = new Promise<void>((resolve, reject) => {
    releaseAll = resolve;
    failAll = reject;
  });
  allHeld.catch(() => undefined);
  const records: ClientRecord[] = [];
  const runs = counts.map(async (count, index) => {
    const own: ParallelJob = {
      ...job,
      count,
      waitForGo: true,
      proxyPid: index === 0 ? job.proxyPid : undefined,
      serverPid: index === 0 ? job.serverPid : undefined,
    };
    try {
      await runLoadClient(world, own, async (_held, ask) => {
        arrived += 1;
        if (arrived === counts.length) releaseAll();
        await allHeld;
        const record = await ask('go', 'done');
        if (record['event'] === 'error') throw new Error(`load client ${index}: ${String(record['error'])}`);
        records[index] = record;
      });
    } catch (error) {
      failAll(error);
      throw error;
    }
  });
  await Promise.all(runs);
  const sum = (key: string): number => records.reduce((total, record) => total + numberOf(record, key), 0);
  const began = Math.min(...records.map((record) => numberOf(record, 'beganAtMs')));
  const ended = Math.max(...records.map((record) => numberOf(record, 'endedAtMs')));
  return {
    event: 'done',
    ok: sum('ok'),
    failed: sum('failed'),
    firstError: records.map((record) => record['firstError']).find((error) => error !== undefined),
    bytes: sum('bytes'),
    elapsedSeconds: (ended - began) / 1000,
    clientCpuSeconds: sum('clientCpuSeconds'),
    machineBusyFraction: sum('machineBusyFraction') / records.length,
    proxyTransferCpuSeconds: numberOf(records[0] ?? {}, 'proxyTransferCpuSeconds'),
    serverTransferCpuSeconds: numberOf(records[0] ?? {}, 'serverTransferCpuSeconds'),
    clientRunSeconds: sum('clientRunSeconds'),
    clientRunQueueWaitSeconds: sum('clientRunQueueWaitSeconds'),
    clients: records.length,
  };
}

/** ftpmasq's read and write counters, its workers' included; NaN for the NAT and mod_proxy (children gone before they could be read). */
function ftpmasqIo(target: Target): IoCounters {
  const { proxy } = target;
  if (proxy === undefined || (target.forkingProxy && target.childrenStay !== true)) {
    return { rchar: Number.NaN, syscr: Number.NaN, wchar: Number.NaN, syscw: Number.NaN };
  }
  const pids = [proxy.pid, ...(target.childrenStay === true ? childrenOf(proxy.pid) : [])];
  const each = pids.map((pid) => readIo(pid));
  const sum = (key: keyof IoCounters): number => each.reduce((total, io) => total + io[key], 0);
  return { rchar: sum('rchar'), syscr: sum('syscr'), wchar: sum('wchar'), syscw: sum('syscw') };
}

/** ftpmasq's run and run-queue wait times, its workers' included; NaN for the NAT and mod_proxy. */
function ftpmasqSchedstat(target: Target): Schedstat {
  const { proxy } = target;
  if (proxy === undefined || (target.forkingProxy && target.childrenStay !== true)) return { runNs: Number.NaN, waitNs: Number.NaN };
  const pids = [proxy.pid, ...(target.childrenStay === true ? childrenOf(proxy.pid) : [])];
  const each = pids.map((pid) => readSchedstat(pid));
  return { runNs: each.reduce((sum, s) => sum + s.runNs, 0), waitNs: each.reduce((sum, s) => sum + s.waitNs, 0) };
}

/**
 * `count` parallel downloads of the parallel file: aggregate MB/s, all SHA-256 right, and the
 * proxy's peak memory, as anonymous PSS sampled every 50 ms (the same measure for ftpmasq and
 * for mod_proxy's processes) and, for ftpmasq, VmHWM (every resident page, the ~43 MiB of the
 * node binary's shared text included).
 */
export async function measureParallel(world: World, target: Target, count: number, clients = 1): Promise<Measurement> {
  const proxy = target.proxy;
  const isFtpmasq = proxy !== undefined && !target.forkingProxy;
  let idleRss = Number.NaN;
  if (proxy !== undefined && isFtpmasq) {
    resetPeakRss(proxy.pid);
    idleRss = rssKiB(proxy.pid);
  }
  const idleAnon = proxyAnonKiB(target);
  let peakAnon = idleAnon;
  let sampling = true;
  const sampler = (async () => {
    while (sampling && proxy !== undefined) {
      peakAnon = Math.max(peakAnon, proxyAnonKiB(target));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  const split = proxy !== undefined && target.childrenStay === true ? new WorkerSplitWindow(proxy.pid, proxy.logPath) : undefined;
  const ioBefore = ftpmasqIo(target);
  const schedBefore = ftpmasqSchedstat(target);
  const window = new CpuWindow(target);
  const file = world.files.parallel;
  let done: ClientRecord;
  const job: ParallelJob = {
    mode: 'parallel',
    ...common(target, 300),
    file: file.name,
    count,
    size: file.size,
    sha256: file.sha256,
    proxyPid: proxy?.pid,
    serverPid: target.server.pid,
  };
  try {
    done = clients <= 1 ? await runLoadClient(world, job) : await runLoadClients(world, job, clients);
  } finally {
    sampling = false;
    await sampler;
  }
  const cpu = await window.close();
  const ok = numberOf(done, 'ok');
  if (ok !== count) throw new Error(`${count - ok} of ${count} parallel downloads wrong: ${String(done['firstError'])}`);
  const seconds = numberOf(done, 'elapsedSeconds');
  const gib = (count * file.size) / GIB;
  const workers = split?.close();
  const ioAfter = ftpmasqIo(target);
  const schedAfter = ftpmasqSchedstat(target);
  const hwmMiB = proxy !== undefined && isFtpmasq ? peakRssKiB(proxy.pid) / 1024 : Number.NaN;
  return {
    figures: {
      aggregateMbPerSecond: (count * file.size) / 1e6 / seconds,
      sha256Ok: ok,
      proxyPeakAnonMiB: peakAnon / 1024,
      proxyPeakAnonAboveIdleMiB: (peakAnon - idleAnon) / 1024,
      proxyPeakRssMiB: hwmMiB,
      proxyPeakRssAboveIdleMiB: hwmMiB - idleRss / 1024,
      proxyCpuPerGiB: cpu.proxy / gib,
      clientCpuPerGiB: numberOf(done, 'clientCpuSeconds') / gib,
      serverCpuPerGiB: cpu.server / gib,
      systemBusyPerGiB: cpu.systemBusy / gib,
      softirqPerGiB: cpu.softirq / gib,
      // Both cores, over the timed part only (the load client reads /proc/stat around it).
      machineBusyPercent: numberOf(done, 'machineBusyFraction') * 100,
      // Over the timed transfers only, without the 50 logins (for mod_proxy, 50 forks and logins).
      proxyTransferCpuPerGiB: numberOf(done, 'proxyTransferCpuSeconds') / gib,
      serverTransferCpuPerGiB: numberOf(done, 'serverTransferCpuSeconds') / gib,
      // The relay's read and write sizes: its data is almost every byte ftpmasq reads and writes.
      // Waiting for a core while runnable, per second on one: the share of its work that queued behind other processes.
      proxyRunQueueWaitPerRun: (schedAfter.waitNs - schedBefore.waitNs) / (schedAfter.runNs - schedBefore.runNs),
      clientRunQueueWaitPerRun: numberOf(done, 'clientRunQueueWaitSeconds') / numberOf(done, 'clientRunSeconds'),
      // Cores the load client used over the timed part: near 1 for one client, it is the bound.
      clientCoreShare: numberOf(done, 'clientCpuSeconds') / seconds,
      loadClients: clients,
      proxyBytesPerRead: (ioAfter.rchar - ioBefore.rchar) / (ioAfter.syscr - ioBefore.syscr),
      proxyBytesPerWrite: (ioAfter.wchar - ioBefore.wchar) / (ioAfter.syscw - ioBefore.syscw),
      seconds,
      ...(workers === undefined ? {} : { ...workers, primaryCpuPerGiB: (workers['primaryCpuSeconds'] ?? Number.NaN) / gib }),
    },
  };
}

/** NOOP round trips through one logged-in session. */
export async function measureNoop(world: World, target: Target, count: number): Promise<Measurement> {
  const done = await runLoadClient(world, { mode: 'noop', ...common(target, 60), count });
  await waitForChildren(target.server.pid, 0, 10_000);
  return { figures: { p50Us: numberOf(done, 'p50Us'), p99Us: numberOf(done, 'p99Us'), samples: numberOf(done, 'ok') } };
}

/** The proxy's memory: ftpmasq's PSS, or mod_proxy's master and its session children together. */
function proxyMemoryKiB(target: Target): number {
  if (target.proxy === undefined) return Number.NaN;
  if (!target.forkingProxy) return pssKiB(target.proxy.pid);
  return pssKiB(target.proxy.pid) + childrenPssKiB(target.proxy.pid).kib;
}

/** `count` logged-in sessions held at once; all must answer NOOP; proxy PSS per session. */
export async function measureHeld(world: World, target: Target, count: number): Promise<Measurement> {
  await new Promise((resolve) => setTimeout(resolve, 500));
  const before = proxyMemoryKiB(target);
  let heldCount = 0;
  let answered = 0;
  let answeredAfter = 0;
  let heldMemory = Number.NaN;
  let connectSeconds = Number.NaN;
  let noopSeconds = Number.NaN;
  let processes = Number.NaN;
  const job: LoadJob = {
    mode: 'hold',
    host: target.endpoint.host,
    port: target.endpoint.port,
    user: FTP_USER,
    password: FTP_PASSWORD,
    maxSeconds: 600,
    count,
    connectConcurrency: 100,
  };
  await runLoadClient(world, job, async (held, ask) => {
    heldCount = numberOf(held, 'held');
    connectSeconds = numberOf(held, 'elapsedSeconds');
    if (heldCount !== count) throw new Error(`held ${heldCount} of ${count}: ${String(held['firstError'])}`);
    const noop = await ask('noop', 'noop');
    answered = numberOf(noop, 'answered');
    noopSeconds = numberOf(noop, 'elapsedSeconds');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    heldMemory = proxyMemoryKiB(target);
    if (target.forkingProxy && target.proxy !== undefined) processes = childrenOf(target.proxy.pid).length;
    const again = await ask('noop', 'noop');
    answeredAfter = numberOf(again, 'answered');
    await ask('quit', 'released');
  });
  if (answered !== count || answeredAfter !== count) {
    throw new Error(`only ${Math.min(answered, answeredAfter)} of ${count} held sessions answered NOOP`);
  }
  if (target.forkingProxy && target.proxy !== undefined) await waitForChildren(target.proxy.pid, 0, 60_000);
  await waitForChildren(target.server.pid, 0, 60_000);
  return {
    figures: {
      held: heldCount,
      answeringNoop: Math.min(answered, answeredAfter),
      pssPerSessionKiB: (heldMemory - before) / count,
      proxyPssHeldMiB: heldMemory / 1024,
      proxyPssIdleMiB: before / 1024,
      connectSeconds,
      noopAllSeconds: noopSeconds,
      ...(target.forkingProxy ? { processes } : {}),
    },
  };
}
