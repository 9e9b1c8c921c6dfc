/**
 * The benchmark's load generator. The runner starts it inside the client namespace
 * (`ip netns exec <client> node dist-bench/bench/load-client.js '<job JSON>'`); it prints one
 * JSON object per line on stdout and exits. Every loop is bounded in count and in time.
 *
 * Jobs:
 *  - sessions: `count` complete short sessions (connect, USER/PASS, PASV, RETR, QUIT),
 *    `concurrency` at a time; per-session wall times.
 *  - parallel: `count` sessions at once, each downloading `file` and checking its SHA-256.
 *  - noop: one logged-in session, `count` sequential NOOP round trips.
 *  - hold: `count` logged-in sessions held open; stdin lines drive it: `noop` (every session sends
 *    NOOP, prints how many answered 200), `quit` (closes all and exits).
 */
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { FtpControl, type HostPort, retrieve } from './lib/ftp-client.js';
import { readSchedstat, readSystemCpu, runSecondsOfTree } from './lib/proc.js';
import { percentile } from './lib/stats.js';

interface Common {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  /** Hard bound on the whole job, seconds. */
  readonly maxSeconds: number;
}

export type LoadJob =
  | (Common & { readonly mode: 'sessions'; readonly file: string; readonly count: number; readonly concurrency: number })
  | (Common & {
      readonly mode: 'parallel';
      readonly file: string;
      readonly count: number;
      readonly size: number;
      readonly sha256: string;
      /** The proxy's and the server's processes, whose CPU (live children included) is read around the timed part. */
      readonly proxyPid?: number | undefined;
      readonly serverPid?: number | undefined;
      /**
       * One of several load clients: after the logins it prints `held` and starts the downloads
       * on a `go` line, so that all of them start together.
       */
      readonly waitForGo?: boolean | undefined;
    })
  | (Common & { readonly mode: 'noop'; readonly count: number })
  | (Common & { readonly mode: 'hold'; readonly count: number; readonly connectConcurrency: number });

function emit(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function cpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

async function runSessions(job: Extract<LoadJob, { mode: 'sessions' }>): Promise<void> {
  const target: HostPort = { host: job.host, port: job.port };
  const deadline = performance.now() + job.maxSeconds * 1000;
  const durations: number[] = [];
  let started = 0;
  let failed = 0;
  let firstError: string | undefined;
  const cpuBefore = cpuSeconds();
  const begin = performance.now();
  const worker = async (): Promise<void> => {
    while (started < job.count && performance.now() < deadline) {
      started++;
      const t0 = performance.now();
      let control: FtpControl | undefined;
      try {
        control = (await FtpControl.connect(target)).control;
        await control.login(job.user, job.password);
        const result = await retrieve(control, job.file, false);
        if (result.bytes <= 0) throw new Error('empty download');
        await control.quit();
        durations.push(performance.now() - t0);
      } catch (error) {
        control?.destroy();
        failed++;
        firstError ??= message(error);
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, () => worker()));
  const elapsed = (performance.now() - begin) / 1000;
  emit({
    event: 'done',
    ok: durations.length,
    failed,
    firstError,
    elapsedSeconds: elapsed,
    sessionsPerSecond: durations.length / elapsed,
    p50Ms: percentile(durations, 50),
    p99Ms: percentile(durations, 99),
    clientCpuSeconds: cpuSeconds() - cpuBefore,
  });
}

async function runParallel(job: Extract<LoadJob, { mode: 'parallel' }>): Promise<void> {
  const target: HostPort = { host: job.host, port: job.port };
  // Log in first, then start every transfer together: the timed part is the data.
  const controls = await Promise.all(
    Array.from({ length: job.count }, async () => {
      const { control } = await FtpControl.connect(target);
      await control.login(job.user, job.password);
      await control.expect('TYPE I', (code) => code === 200);
      return control;
    }),
  );
  if (job.waitForGo === true) {
    emit({ event: 'held', held: controls.length });
    await waitForLine('go');
  }
  const timer = setTimeout(() => {
    emit({ event: 'error', error: `parallel downloads exceeded ${job.maxSeconds} s` });
    process.exit(1);
  }, job.maxSeconds * 1000);
  const cpuBefore = cpuSeconds();
  const watched = (): { proxy: number; server: number } => ({
    proxy: job.proxyPid === undefined ? Number.NaN : runSecondsOfTree(job.proxyPid),
    server: job.serverPid === undefined ? Number.NaN : runSecondsOfTree(job.serverPid),
  });
  const watchedBefore = watched();
  const schedBefore = readSchedstat(process.pid);
  const machineBefore = readSystemCpu();
  const begin = performance.now();
  const results = await Promise.allSettled(controls.map((control) => retrieve(control, job.file, true)));
  const end = performance.now();
  const elapsed = (end - begin) / 1000;
  const machineAfter = readSystemCpu();
  const watchedAfter = watched();
  const schedAfter = readSchedstat(process.pid);
  const machineBusyFraction = (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total);
  clearTimeout(timer);
  let ok = 0;
  let bytes = 0;
  let firstError: string | undefined;
  for (const result of results) {
    if (result.status === 'fulfilled') {
      bytes += result.value.bytes;
      if (result.value.bytes === job.size && result.value.sha256 === job.sha256) ok++;
      else firstError ??= `got ${result.value.bytes} bytes sha256 ${result.value.sha256 ?? '?'}`;
    } else {
      firstError ??= message(result.reason);
    }
  }
  const clientCpu = cpuSeconds() - cpuBefore;
  await Promise.allSettled(controls.map((control) => control.quit()));
  emit({
    event: 'done',
    ok,
    failed: job.count - ok,
    firstError,
    bytes,
    elapsedSeconds: elapsed,
    // Wall-clock milliseconds, so that several clients' windows can be joined.
    beganAtMs: performance.timeOrigin + begin,
    endedAtMs: performance.timeOrigin + end,
    clientCpuSeconds: clientCpu,
    machineBusyFraction,
    // The transfers alone, without the logins before them and the QUITs after.
    proxyTransferCpuSeconds: watchedAfter.proxy - watchedBefore.proxy,
    serverTransferCpuSeconds: watchedAfter.server - watchedBefore.server,
    // How long this process was runnable but waited for a core: a busy machine shows here first.
    clientRunSeconds: (schedAfter.runNs - schedBefore.runNs) / 1e9,
    clientRunQueueWaitSeconds: (schedAfter.waitNs - schedBefore.waitNs) / 1e9,
  });
}

async function runNoop(job: Extract<LoadJob, { mode: 'noop' }>): Promise<void> {
  const { control } = await FtpControl.connect({ host: job.host, port: job.port });
  await control.login(job.user, job.password);
  const deadline = performance.now() + job.maxSeconds * 1000;
  // Warm the path (JIT on both ends, socket buffers) before timing.
  for (let i = 0; i < 50; i++) await control.expect('NOOP', (code) => code === 200);
  const samples: number[] = [];
  while (samples.length < job.count && performance.now() < deadline) {
    const t0 = performance.now();
    await control.expect('NOOP', (code) => code === 200);
    samples.push((performance.now() - t0) * 1000);
  }
  await control.quit();
  emit({ event: 'done', ok: samples.length, p50Us: percentile(samples, 50), p99Us: percentile(samples, 99) });
}

async function waitForLine(expected: string): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) if (line === expected) break;
  lines.close();
}

async function runHold(job: Extract<LoadJob, { mode: 'hold' }>): Promise<void> {
  const target: HostPort = { host: job.host, port: job.port };
  const deadline = performance.now() + job.maxSeconds * 1000;
  const held: FtpControl[] = [];
  let failed = 0;
  let next = 0;
  let firstError: string | undefined;
  const begin = performance.now();
  const worker = async (): Promise<void> => {
    while (next < job.count && performance.now() < deadline) {
      next++;
      let control: FtpControl | undefined;
      try {
        control = (await FtpControl.connect(target, 120_000)).control;
        await control.login(job.user, job.password);
        held.push(control);
      } catch (error) {
        control?.destroy();
        failed++;
        firstError ??= message(error);
      }
    }
  };
  await Promise.all(Array.from({ length: job.connectConcurrency }, () => worker()));
  emit({ event: 'held', held: held.length, failed, firstError, elapsedSeconds: (performance.now() - begin) / 1000 });

  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line === 'noop') {
      const t0 = performance.now();
      const results = await Promise.allSettled(held.map((control) => control.expect('NOOP', (code) => code === 200)));
      const answered = results.filter((result) => result.status === 'fulfilled').length;
      const rejected = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      emit({
        event: 'noop',
        answered,
        of: held.length,
        elapsedSeconds: (performance.now() - t0) / 1000,
        firstError: rejected === undefined ? undefined : message(rejected.reason),
      });
    } else if (line === 'quit') {
      for (const control of held) control.destroy();
      emit({ event: 'released', count: held.length });
      break;
    }
  }
  lines.close();
}

async function main(): Promise<void> {
  const text = process.argv[2];
  if (text === undefined) throw new Error('usage: load-client.js <job JSON>');
  const job = JSON.parse(text) as LoadJob; // our own runner wrote it
  // The whole process is bounded too, whatever a job does.
  setTimeout(() => {
    emit({ event: 'error', error: `load client exceeded ${job.maxSeconds + 60} s` });
    process.exit(1);
  }, (job.maxSeconds + 60) * 1000).unref();
  switch (job.mode) {
    case 'sessions':
      return runSessions(job);
    case 'parallel':
      return runParallel(job);
    case 'noop':
      return runNoop(job);
    case 'hold':
      return runHold(job);
    default: {
      const unknown: never = job;
      throw new Error(`unknown job ${JSON.stringify(unknown)}`);
    }
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    emit({ event: 'error', error: message(error) });
    process.exit(1);
  },
);
