/**
 * Turns the rounds into the published table: per figure and variant the median with min and
 * max over rounds, ratios of (b) and (c) to (a) and to (d), and the targets met or missed.
 */
import { type Summary, summarize } from './stats.js';
import { VARIANTS, VARIANT_LABELS, type Variant } from './world.js';

export interface RoundResult {
  readonly scenario: string;
  readonly variant: Variant;
  readonly round: number;
  readonly figures: Readonly<Record<string, number>>;
  readonly error?: string;
}

export interface Row {
  readonly scenario: string;
  readonly figure: string;
  readonly label: string;
  readonly decimals: number;
}

/** The rows of the table, in order: what the issue asks for, then what explains it. */
export const ROWS: readonly Row[] = [
  { scenario: 'download', figure: 'mbPerSecond', label: 'download 1 GiB, MB/s', decimals: 0 },
  { scenario: 'download', figure: 'proxyCpuPerGiB', label: 'download: proxy CPU-s per GiB', decimals: 2 },
  { scenario: 'upload', figure: 'mbPerSecond', label: 'upload 1 GiB, MB/s', decimals: 0 },
  { scenario: 'upload', figure: 'proxyCpuPerGiB', label: 'upload: proxy CPU-s per GiB', decimals: 2 },
  { scenario: 'ftps-download', figure: 'mbPerSecond', label: 'FTPS download 1 GiB (AUTH TLS, PROT P), MB/s', decimals: 0 },
  { scenario: 'ftps-download', figure: 'proxyCpuPerGiB', label: 'FTPS download: proxy CPU-s per GiB', decimals: 2 },
  { scenario: 'ftps-upload', figure: 'mbPerSecond', label: 'FTPS upload 1 GiB (AUTH TLS, PROT P), MB/s', decimals: 0 },
  { scenario: 'ftps-upload', figure: 'proxyCpuPerGiB', label: 'FTPS upload: proxy CPU-s per GiB', decimals: 2 },
  { scenario: 'sessions-1', figure: 'sessionsPerSecond', label: 'short sessions, 1 client, sessions/s', decimals: 0 },
  { scenario: 'sessions-1', figure: 'p50Ms', label: 'short sessions, 1 client, p50 ms', decimals: 2 },
  { scenario: 'sessions-1', figure: 'p99Ms', label: 'short sessions, 1 client, p99 ms', decimals: 2 },
  { scenario: 'sessions-1', figure: 'proxyCpuMsPerSession', label: 'short sessions, 1 client: proxy CPU ms/session', decimals: 2 },
  { scenario: 'sessions-20', figure: 'sessionsPerSecond', label: 'short sessions, 20 clients, sessions/s', decimals: 0 },
  { scenario: 'sessions-20', figure: 'p50Ms', label: 'short sessions, 20 clients, p50 ms', decimals: 1 },
  { scenario: 'sessions-20', figure: 'p99Ms', label: 'short sessions, 20 clients, p99 ms', decimals: 1 },
  { scenario: 'sessions-20', figure: 'proxyCpuMsPerSession', label: 'short sessions, 20 clients: proxy CPU ms/session', decimals: 2 },
  { scenario: 'sessions-1-preconnect', figure: 'sessionsPerSecond', label: 'short sessions, 1 client, upstreamPreconnect, sessions/s', decimals: 0 },
  { scenario: 'sessions-1-preconnect', figure: 'p50Ms', label: 'short sessions, 1 client, upstreamPreconnect, p50 ms', decimals: 2 },
  { scenario: 'sessions-20-preconnect', figure: 'sessionsPerSecond', label: 'short sessions, 20 clients, upstreamPreconnect, sessions/s', decimals: 0 },
  { scenario: 'sessions-20-preconnect', figure: 'p50Ms', label: 'short sessions, 20 clients, upstreamPreconnect, p50 ms', decimals: 1 },
  { scenario: 'sessions-20-preconnect', figure: 'proxyCpuMsPerSession', label: 'short sessions, 20 clients, upstreamPreconnect: proxy CPU ms/session', decimals: 2 },
  { scenario: 'sessions-scripted-1', figure: 'sessionsPerSecond', label: 'short sessions vs scripted upstream, 1 client, sessions/s', decimals: 0 },
  { scenario: 'sessions-scripted-1', figure: 'p50Ms', label: 'short sessions vs scripted upstream, 1 client, p50 ms', decimals: 2 },
  { scenario: 'sessions-scripted-1', figure: 'p99Ms', label: 'short sessions vs scripted upstream, 1 client, p99 ms', decimals: 2 },
  { scenario: 'sessions-scripted-20', figure: 'sessionsPerSecond', label: 'short sessions vs scripted upstream, 20 clients, sessions/s', decimals: 0 },
  { scenario: 'sessions-scripted-20', figure: 'p50Ms', label: 'short sessions vs scripted upstream, 20 clients, p50 ms', decimals: 2 },
  { scenario: 'sessions-scripted-20', figure: 'p99Ms', label: 'short sessions vs scripted upstream, 20 clients, p99 ms', decimals: 2 },
  { scenario: 'sessions-scripted-20', figure: 'proxyCpuMsPerSession', label: 'short sessions vs scripted upstream, 20 clients: proxy CPU ms/session', decimals: 2 },
  { scenario: 'parallel', figure: 'aggregateMbPerSecond', label: '50 parallel downloads, aggregate MB/s', decimals: 0 },
  { scenario: 'parallel', figure: 'sha256Ok', label: '50 parallel downloads, SHA-256 right', decimals: 0 },
  { scenario: 'parallel-workers', figure: 'aggregateMbPerSecond', label: '50 parallel downloads, --workers 2, aggregate MB/s', decimals: 0 },
  { scenario: 'parallel-workers', figure: 'sha256Ok', label: '50 parallel downloads, --workers 2, SHA-256 right', decimals: 0 },
  { scenario: 'parallel', figure: 'proxyPeakAnonMiB', label: '50 parallel downloads: proxy peak memory (anonymous PSS) MiB', decimals: 1 },
  { scenario: 'parallel', figure: 'proxyPeakRssMiB', label: '50 parallel downloads: ftpmasq peak RSS (VmHWM) MiB', decimals: 1 },
  { scenario: 'noop', figure: 'p50Us', label: 'NOOP round trip p50, µs', decimals: 0 },
  { scenario: 'noop', figure: 'p99Us', label: 'NOOP round trip p99, µs', decimals: 0 },
  { scenario: 'held-scripted', figure: 'answeringNoop', label: 'held sessions vs scripted upstream, answering NOOP', decimals: 0 },
  { scenario: 'held-scripted', figure: 'pssPerSessionKiB', label: 'held sessions vs scripted upstream: proxy PSS KiB/session', decimals: 1 },
  { scenario: 'held-proftpd', figure: 'answeringNoop', label: 'held sessions vs ProFTPD, answering NOOP', decimals: 0 },
  { scenario: 'held-proftpd', figure: 'pssPerSessionKiB', label: 'held sessions vs ProFTPD: proxy PSS KiB/session', decimals: 1 },
];

/** Secondary rows: where the CPU went (for "what bounds each figure"). */
export const DETAIL_ROWS: readonly Row[] = [
  { scenario: 'download', figure: 'serverCpuPerGiB', label: 'download: ProFTPD CPU-s per GiB', decimals: 2 },
  { scenario: 'download', figure: 'clientCpuPerGiB', label: 'download: curl CPU-s per GiB', decimals: 2 },
  { scenario: 'download', figure: 'systemBusyPerGiB', label: 'download: whole machine busy CPU-s per GiB', decimals: 2 },
  { scenario: 'download', figure: 'softirqPerGiB', label: 'download: softirq CPU-s per GiB', decimals: 2 },
  { scenario: 'upload', figure: 'serverCpuPerGiB', label: 'upload: ProFTPD CPU-s per GiB', decimals: 2 },
  { scenario: 'upload', figure: 'clientCpuPerGiB', label: 'upload: curl CPU-s per GiB', decimals: 2 },
  { scenario: 'upload', figure: 'systemBusyPerGiB', label: 'upload: whole machine busy CPU-s per GiB', decimals: 2 },
  { scenario: 'upload', figure: 'softirqPerGiB', label: 'upload: softirq CPU-s per GiB', decimals: 2 },
  { scenario: 'ftps-download', figure: 'serverCpuPerGiB', label: 'FTPS download: ProFTPD CPU-s per GiB', decimals: 2 },
  { scenario: 'ftps-download', figure: 'clientCpuPerGiB', label: 'FTPS download: curl CPU-s per GiB', decimals: 2 },
  { scenario: 'ftps-download', figure: 'systemBusyPerGiB', label: 'FTPS download: whole machine busy CPU-s per GiB', decimals: 2 },
  { scenario: 'ftps-upload', figure: 'serverCpuPerGiB', label: 'FTPS upload: ProFTPD CPU-s per GiB', decimals: 2 },
  { scenario: 'ftps-upload', figure: 'clientCpuPerGiB', label: 'FTPS upload: curl CPU-s per GiB', decimals: 2 },
  { scenario: 'ftps-upload', figure: 'systemBusyPerGiB', label: 'FTPS upload: whole machine busy CPU-s per GiB', decimals: 2 },
  { scenario: 'sessions-20', figure: 'serverCpuMsPerSession', label: 'short sessions, 20 clients: ProFTPD CPU ms/session', decimals: 2 },
  { scenario: 'sessions-20', figure: 'clientCpuMsPerSession', label: 'short sessions, 20 clients: load client CPU ms/session', decimals: 2 },
  { scenario: 'sessions-20', figure: 'systemBusyMsPerSession', label: 'short sessions, 20 clients: whole machine CPU ms/session', decimals: 2 },
  { scenario: 'sessions-scripted-20', figure: 'serverCpuMsPerSession', label: 'short sessions vs scripted upstream: upstream CPU ms/session', decimals: 2 },
  { scenario: 'sessions-scripted-20', figure: 'clientCpuMsPerSession', label: 'short sessions vs scripted upstream: load client CPU ms/session', decimals: 2 },
  { scenario: 'parallel', figure: 'proxyCpuPerGiB', label: '50 parallel downloads: proxy CPU-s per GiB', decimals: 2 },
  { scenario: 'parallel-workers', figure: 'proxyCpuPerGiB', label: '50 parallel downloads, --workers 2: proxy CPU-s per GiB (primary and workers)', decimals: 2 },
  { scenario: 'parallel', figure: 'proxyTransferCpuPerGiB', label: '50 parallel downloads: proxy CPU-s per GiB, transfers only (no logins)', decimals: 2 },
  { scenario: 'parallel-workers', figure: 'proxyTransferCpuPerGiB', label: '50 parallel downloads, --workers 2: proxy CPU-s per GiB, transfers only', decimals: 2 },
  { scenario: 'parallel', figure: 'serverTransferCpuPerGiB', label: '50 parallel downloads: ProFTPD CPU-s per GiB, transfers only', decimals: 2 },
  { scenario: 'parallel-workers', figure: 'primaryCpuPerGiB', label: '50 parallel downloads, --workers 2: the primary alone, CPU-s per GiB', decimals: 3 },
  { scenario: 'parallel-workers', figure: 'workerDataConnectionsMin', label: '50 parallel downloads, --workers 2: data connections of the less busy worker', decimals: 0 },
  { scenario: 'parallel-workers', figure: 'workerBytesShareMax', label: '50 parallel downloads, --workers 2: the busier worker\'s share of the bytes', decimals: 2 },
  { scenario: 'parallel', figure: 'serverCpuPerGiB', label: '50 parallel downloads: ProFTPD CPU-s per GiB', decimals: 2 },
  { scenario: 'parallel', figure: 'clientCpuPerGiB', label: '50 parallel downloads: load client CPU-s per GiB (SHA-256)', decimals: 2 },
  { scenario: 'parallel', figure: 'machineBusyPercent', label: '50 parallel downloads: both cores busy during the transfers, %', decimals: 0 },
  { scenario: 'parallel-workers', figure: 'machineBusyPercent', label: '50 parallel downloads, --workers 2: both cores busy during the transfers, %', decimals: 0 },
  { scenario: 'parallel', figure: 'proxyBytesPerRead', label: '50 parallel downloads: ftpmasq bytes per read(2)', decimals: 0 },
  { scenario: 'parallel-workers', figure: 'proxyBytesPerRead', label: '50 parallel downloads, --workers 2: ftpmasq bytes per read(2)', decimals: 0 },
  { scenario: 'parallel', figure: 'clientCoreShare', label: '50 parallel downloads: cores the load clients used during the transfers', decimals: 2 },
  { scenario: 'parallel-workers', figure: 'clientCoreShare', label: '50 parallel downloads, --workers 2: cores the load clients used', decimals: 2 },
  { scenario: 'parallel', figure: 'proxyRunQueueWaitPerRun', label: '50 parallel downloads: ftpmasq run-queue wait per second run', decimals: 2 },
  { scenario: 'parallel-workers', figure: 'proxyRunQueueWaitPerRun', label: '50 parallel downloads, --workers 2: ftpmasq run-queue wait per second run', decimals: 2 },
  { scenario: 'parallel', figure: 'loadAverage1', label: '50 parallel downloads: load average (1 min) before the round', decimals: 1 },
  { scenario: 'parallel-workers', figure: 'loadAverage1', label: '50 parallel downloads, --workers 2: load average (1 min) before the round', decimals: 1 },
  { scenario: 'parallel', figure: 'proxyPeakAnonAboveIdleMiB', label: '50 parallel downloads: proxy peak anonymous memory above idle MiB', decimals: 1 },
  { scenario: 'parallel', figure: 'proxyPeakRssAboveIdleMiB', label: '50 parallel downloads: ftpmasq peak RSS above idle MiB', decimals: 1 },
  { scenario: 'held-scripted', figure: 'held', label: 'held sessions vs scripted upstream, count', decimals: 0 },
  { scenario: 'held-scripted', figure: 'proxyPssHeldMiB', label: 'held sessions vs scripted upstream: proxy PSS total MiB', decimals: 1 },
  { scenario: 'held-scripted', figure: 'connectSeconds', label: 'held sessions vs scripted upstream: seconds to connect and log in all', decimals: 1 },
  { scenario: 'held-proftpd', figure: 'held', label: 'held sessions vs ProFTPD, count', decimals: 0 },
  { scenario: 'held-proftpd', figure: 'proxyPssHeldMiB', label: 'held sessions vs ProFTPD: proxy PSS total MiB', decimals: 1 },
  { scenario: 'held-proftpd', figure: 'connectSeconds', label: 'held sessions vs ProFTPD: seconds to connect and log in all', decimals: 1 },
];

export function summaryOf(results: readonly RoundResult[], scenario: string, figure: string, variant: Variant): Summary | undefined {
  return summarize(
    results
      .filter((result) => result.scenario === scenario && result.variant === variant && result.error === undefined)
      .map((result) => result.figures[figure] ?? Number.NaN),
  );
}

function format(value: number, decimals: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

function cell(summary: Summary | undefined, decimals: number): string {
  if (summary === undefined) return '–';
  if (summary.n === 1) return format(summary.median, decimals);
  return `${format(summary.median, decimals)} (${format(summary.min, decimals)}–${format(summary.max, decimals)})`;
}

function ratio(a: Summary | undefined, b: Summary | undefined): string {
  if (a === undefined || b === undefined || b.median === 0 || !Number.isFinite(a.median / b.median)) return '–';
  return `${(a.median / b.median).toFixed(2)}x`;
}

export function markdownTable(results: readonly RoundResult[], rows: readonly Row[]): string {
  const header = [
    '| Figure | ' + VARIANTS.map((variant) => VARIANT_LABELS[variant]).join(' | ') + ' | b/a | c/a | d/a | e/a | b/d | c/d |',
    '| --- | ' + VARIANTS.map(() => '---:').join(' | ') + ' | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const lines = rows
    .filter((row) => VARIANTS.some((variant) => summaryOf(results, row.scenario, row.figure, variant) !== undefined))
    .map((row) => {
      const s = Object.fromEntries(VARIANTS.map((variant) => [variant, summaryOf(results, row.scenario, row.figure, variant)])) as Record<
        Variant,
        Summary | undefined
      >;
      return `| ${row.label} | ${VARIANTS.map((variant) => cell(s[variant], row.decimals)).join(' | ')} | ${ratio(s.relay, s.direct)} | ${ratio(
        s.rewrite,
        s.direct,
      )} | ${ratio(s.modproxy, s.direct)} | ${ratio(s.kernel, s.direct)} | ${ratio(s.relay, s.modproxy)} | ${ratio(s.rewrite, s.modproxy)} |`;
    });
  return [...header, ...lines].join('\n');
}

export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | undefined;
}

function median(results: readonly RoundResult[], scenario: string, figure: string, variant: Variant): number {
  return summaryOf(results, scenario, figure, variant)?.median ?? Number.NaN;
}

/** The targets (#7), checked on the medians of this run for (b) relay and (c) rewrite. */
export function checkTargets(results: readonly RoundResult[], expected: { parallelCount: number; heldScripted: number }): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const judge = (target: string, values: Array<[string, number]>, ok: (value: number) => boolean, digits = 2): void => {
    const finite = values.filter(([, value]) => Number.isFinite(value));
    checks.push({
      target,
      measured: finite.length === 0 ? 'not measured' : finite.map(([name, value]) => `${name} ${value.toFixed(digits)}`).join(', '),
      met: finite.length === 0 ? undefined : finite.every(([, value]) => ok(value)),
    });
  };
  const modes: Array<['relay' | 'rewrite', string]> = [
    ['relay', '(b)'],
    ['rewrite', '(c)'],
  ];
  for (const direction of ['download', 'upload'] as const) {
    judge(
      `${direction} 1 GiB >= 0.9x direct`,
      modes.map(([variant, name]) => [name, median(results, direction, 'mbPerSecond', variant) / median(results, direction, 'mbPerSecond', 'direct')]),
      (value) => value >= 0.9,
    );
    judge(
      `${direction}: proxy CPU <= 0.7 s/GiB`,
      modes.map(([variant, name]) => [name, median(results, direction, 'proxyCpuPerGiB', variant)]),
      (value) => value <= 0.7,
    );
  }
  judge(
    '50 parallel downloads >= 0.9x direct',
    modes.map(([variant, name]) => [
      name,
      median(results, 'parallel', 'aggregateMbPerSecond', variant) / median(results, 'parallel', 'aggregateMbPerSecond', 'direct'),
    ]),
    (value) => value >= 0.9,
  );
  // Issue 14 item 5: relay mode, with its workers, moves at least mod_proxy's aggregate, in the same run.
  judge(
    '50 parallel downloads: relay with --workers 2 >= 1.0x mod_proxy',
    [['(b) --workers 2', median(results, 'parallel-workers', 'aggregateMbPerSecond', 'relay') / median(results, 'parallel', 'aggregateMbPerSecond', 'modproxy')]],
    (value) => value >= 1,
  );
  judge(
    `50 parallel downloads: all ${expected.parallelCount} SHA-256 right`,
    modes.map(([variant, name]) => [name, median(results, 'parallel', 'sha256Ok', variant)]),
    (value) => value === expected.parallelCount,
    0,
  );
  judge(
    '50 parallel downloads: proxy peak memory <= 64 MiB (anonymous PSS)',
    modes.map(([variant, name]) => [name, median(results, 'parallel', 'proxyPeakAnonMiB', variant)]),
    (value) => value <= 64,
    1,
  );
  judge(
    '50 parallel downloads: proxy peak memory <= 64 MiB (VmHWM, shared node binary included)',
    modes.map(([variant, name]) => [name, median(results, 'parallel', 'proxyPeakRssMiB', variant)]),
    (value) => value <= 64,
    1,
  );
  judge(
    '20-client session rate >= 0.9x direct (vs ProFTPD)',
    modes.map(([variant, name]) => [
      name,
      median(results, 'sessions-20', 'sessionsPerSecond', variant) / median(results, 'sessions-20', 'sessionsPerSecond', 'direct'),
    ]),
    (value) => value >= 0.9,
  );
  judge(
    '20-client session rate >= 0.9x direct (vs ProFTPD, relay with upstreamPreconnect)',
    [['(b)', median(results, 'sessions-20-preconnect', 'sessionsPerSecond', 'relay') / median(results, 'sessions-20', 'sessionsPerSecond', 'direct')]],
    (value) => value >= 0.9,
  );
  judge(
    '20-client session rate >= 0.9x direct (scripted upstream: the proxy is the busy process)',
    modes.map(([variant, name]) => [
      name,
      median(results, 'sessions-scripted-20', 'sessionsPerSecond', variant) / median(results, 'sessions-scripted-20', 'sessionsPerSecond', 'direct'),
    ]),
    (value) => value >= 0.9,
  );
  judge(
    '20 clients: proxy CPU <= 1.5 ms/session (vs ProFTPD)',
    modes.map(([variant, name]) => [name, median(results, 'sessions-20', 'proxyCpuMsPerSession', variant)]),
    (value) => value <= 1.5,
  );
  judge(
    '20 clients: proxy CPU <= 1.5 ms/session (vs scripted upstream)',
    modes.map(([variant, name]) => [name, median(results, 'sessions-scripted-20', 'proxyCpuMsPerSession', variant)]),
    (value) => value <= 1.5,
  );
  judge(
    'held sessions: <= 32 KiB PSS/session (scripted upstream)',
    modes.map(([variant, name]) => [name, median(results, 'held-scripted', 'pssPerSessionKiB', variant)]),
    (value) => value <= 32,
    1,
  );
  judge(
    `${expected.heldScripted} held sessions in one process, all answering NOOP`,
    modes.map(([variant, name]) => [name, median(results, 'held-scripted', 'answeringNoop', variant)]),
    (value) => value >= expected.heldScripted,
    0,
  );
  judge(
    'NOOP round trip p50 <= direct + 50 µs',
    modes.map(([variant, name]) => [name, median(results, 'noop', 'p50Us', variant) - median(results, 'noop', 'p50Us', 'direct')]),
    (value) => value <= 50,
    0,
  );
  // Issue 14: kernel mode moves the data in the kernel, at the NAT's speed, with next to no CPU of ftpmasq's.
  const kernelRatio = (scenario: string, figure: string): Array<[string, number]> => [
    ['(e)', median(results, scenario, figure, 'kernel') / median(results, scenario, figure, 'direct')],
  ];
  judge('kernel: download 1 GiB >= 0.95x direct', kernelRatio('download', 'mbPerSecond'), (value) => value >= 0.95);
  judge('kernel: upload 1 GiB >= 0.95x direct', kernelRatio('upload', 'mbPerSecond'), (value) => value >= 0.95);
  judge('kernel: 50 parallel downloads >= 0.95x direct', kernelRatio('parallel', 'aggregateMbPerSecond'), (value) => value >= 0.95);
  for (const direction of ['download', 'upload'] as const) {
    judge(
      `kernel: ${direction} proxy CPU <= 0.05 s/GiB`,
      [['(e)', median(results, direction, 'proxyCpuPerGiB', 'kernel')]],
      (value) => value <= 0.05,
      3,
    );
  }
  return checks;
}

export function targetsTable(checks: readonly TargetCheck[]): string {
  const lines = ['| Target (issues #7, #14) | Measured (medians) | Met |', '| --- | --- | --- |'];
  for (const check of checks) {
    lines.push(`| ${check.target} | ${check.measured} | ${check.met === undefined ? 'not measured' : check.met ? 'met' : '**missed**'} |`);
  }
  return lines.join('\n');
}
