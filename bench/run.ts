/**
 * `npm run bench`: the side-by-side benchmark of issue #7. Root, network namespaces, real
 * ProFTPD; (a) direct NAT, (b) ftpmasq relay, (c) ftpmasq rewrite, (d) ProFTPD mod_proxy, (e) ftpmasq kernel,
 * interleaved round by round (a b c d e, a b c d e, ...) within each scenario.
 *
 *   npm run bench                      the full run that docs/PERFORMANCE.md quotes
 *   npm run bench -- --quick           smaller sizes, one round: a smoke test of the whole bench
 *   npm run bench -- --rounds 5 --only download,upload --variants direct,relay
 *   npm run bench -- --only ftps-download,ftps-upload   only the FTPS transfers (relay and mod_proxy)
 *   npm run bench -- --cpu-prof        ftpmasq writes .cpuprofile files to bench/results/profiles/
 *   npm run bench -- --only parallel,parallel-workers --parallel-mib 64   longer parallel downloads (to profile)
 *   npm run bench -- --only parallel,parallel-workers --parallel-clients 4  the 50 downloads over 4 load clients
 *
 * Writes bench/results/<timestamp>.json and .md, and, for a complete default run, latest.json / latest.md.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { batchesOf, runOrder } from './lib/batches.js';
import { type RoundResult, DETAIL_ROWS, ROWS, checkTargets, markdownTable, targetsTable } from './lib/report.js';
import {
  type Measurement,
  measureHeld,
  measureNoop,
  measureParallel,
  measureSessions,
  measureTransfer,
} from './lib/scenarios.js';
import { PORTS, VARIANTS, type Target, type Variant, type World, createWorld } from './lib/world.js';
import { PUBLIC_ADDRESS } from './lib/network.js';

const MIB = 1024 * 1024;
/** `--upstream-preconnect` of the preconnect scenarios: about what 20 clients use while ProFTPD's master sleeps. */
const PRECONNECT = 16;
const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');

interface Settings {
  readonly quick: boolean;
  readonly rounds: number;
  readonly only: readonly string[] | undefined;
  readonly variants: readonly Variant[];
  readonly cpuProf: boolean;
  readonly transferBytes: number;
  readonly parallelCount: number;
  readonly parallelBytes: number;
  readonly parallelClients: number;
  readonly sessions1: number;
  readonly sessions20: number;
  readonly sessionsScripted: number;
  readonly sessionsScripted1: number;
  readonly noopCount: number;
  readonly heldScripted: number;
  readonly heldProftpd: number;
}

function parseArgs(argv: readonly string[]): Settings {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const int = (flag: string, fallback: number): number => {
    const text = value(flag);
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} expects a positive integer, got ${text}`);
    return n;
  };
  const known = new Set(['--world-only', '--quick', '--cpu-prof', '--rounds', '--only', '--variants', '--held', '--held-proftpd', '--transfer-mib', '--parallel-mib', '--parallel-clients']);
  for (const arg of argv) {
    if (arg.startsWith('--') && !known.has(arg)) throw new Error(`unknown flag ${arg}; flags: ${[...known].join(' ')}`);
  }
  const variants = (value('--variants')?.split(',') ?? [...VARIANTS]).map((name) => {
    const variant = VARIANTS.find((candidate) => candidate === name);
    if (variant === undefined) throw new Error(`--variants: unknown ${name}; one of ${VARIANTS.join(',')}`);
    return variant;
  });
  return {
    quick,
    rounds: int('--rounds', quick ? 1 : 3),
    only: value('--only')?.split(','),
    variants,
    cpuProf: argv.includes('--cpu-prof'),
    transferBytes: int('--transfer-mib', quick ? 64 : 1024) * MIB,
    parallelCount: 50,
    parallelBytes: int('--parallel-mib', quick ? 2 : 16) * MIB,
    parallelClients: int('--parallel-clients', 1),
    sessions1: quick ? 30 : 100,
    sessions20: quick ? 200 : 1000,
    sessionsScripted: quick ? 500 : 5000,
    sessionsScripted1: quick ? 200 : 1000,
    noopCount: quick ? 500 : 5000,
    heldScripted: int('--held', quick ? 500 : 5000),
    heldProftpd: int('--held-proftpd', quick ? 100 : 2000),
  };
}

interface Scenario {
  readonly id: string;
  /**
   * Scenarios of one group run round by round together (round 1 of each, then round 2 of each),
   * so that figures compared across them share the machine's conditions as variants do.
   */
  readonly group?: string;
  readonly variants: readonly Variant[];
  measure(world: World, variant: Variant, round: number): Promise<Measurement>;
}

function scenarios(settings: Settings): Scenario[] {
  return [
    {
      id: 'download',
      variants: VARIANTS,
      measure: (world, variant, round) => measureTransfer(world, world.target(variant), 'download', `${variant}-${round}`),
    },
    {
      id: 'upload',
      variants: VARIANTS,
      measure: (world, variant, round) => measureTransfer(world, world.target(variant), 'upload', `${variant}-${round}`),
    },
    ...(['download', 'upload'] as const).map((direction) => ({
      // Issue 12: explicit FTPS towards the client, terminated by ftpmasq (relay) or by mod_proxy
      // with mod_tls, in front of the same plain legacy ProFTPD.
      id: `ftps-${direction}`,
      variants: ['relay', 'modproxy'] as const,
      async measure(world: World, variant: Variant, round: number): Promise<Measurement> {
        const target = (await world.ftps()).target(variant);
        if (target === undefined) throw new Error(`no FTPS target for ${variant}`);
        return measureTransfer(world, target, direction, `ftps-${variant}-${round}`, 'ftps');
      },
    })),
    {
      id: 'sessions-1',
      variants: VARIANTS,
      measure: (world, variant) => measureSessions(world, world.target(variant), 1, settings.sessions1, 60),
    },
    {
      id: 'sessions-20',
      variants: VARIANTS,
      measure: (world, variant) => measureSessions(world, world.target(variant), 20, settings.sessions20, 90),
    },
    ...([1, 20] as const).map((clients) => ({
      // upstreamPreconnect: each session takes an upstream connection ProFTPD's master accepted
      // while earlier sessions ran, so its accept sleeps are off the session's path.
      id: `sessions-${clients}-preconnect`,
      variants: ['relay'] as const,
      measure: (world: World, variant: Variant, round: number) =>
        withFreshFtpmasq(
          world,
          variant,
          `sessions-${clients}-preconnect-${round}`,
          (target) => measureSessions(world, target, clients, clients === 1 ? settings.sessions1 : settings.sessions20, clients === 1 ? 60 : 90),
          undefined,
          ['--upstream-preconnect', String(PRECONNECT)],
        ),
    })),
    ...([1, 20] as const).map((clients) => ({
      // ProFTPD's master sleeps 200 ms whenever a child's SIGCHLD interrupts its select (see
      // docs/PERFORMANCE.md): against it the session rate is ProFTPD's. Against the scripted
      // upstream, which answers from one event loop, the proxy is what is busy.
      id: `sessions-scripted-${clients}`,
      variants: ['direct', 'relay', 'rewrite'] as const,
      async measure(world: World, variant: Variant): Promise<Measurement> {
        const target = (await world.scripted()).target(variant);
        if (target === undefined) throw new Error(`no scripted target for ${variant}`);
        return measureSessions(world, target, clients, clients === 1 ? settings.sessionsScripted1 : settings.sessionsScripted, 90);
      },
    })),
    {
      id: 'parallel',
      group: 'parallel',
      variants: VARIANTS,
      // A fresh ftpmasq process, so its peak memory is this workload's and not the history of
      // the 1 GiB transfers before it; mod_proxy's sessions are fresh processes anyway.
      measure: (world, variant, round) =>
        withFreshFtpmasq(world, variant, `parallel-${round}`, (target) =>
          measureParallel(world, target, settings.parallelCount, settings.parallelClients),
        ),
    },
    {
      // The same 50 downloads through relay mode with two worker processes (issue 14, item 5),
      // beside `parallel` above with one. Measured as a forking proxy: CPU and memory summed over
      // the primary and its workers, as over mod_proxy's processes (the end of the window waits
      // up to 10 s for children to go, which workers never do: wall time is taken before it).
      id: 'parallel-workers',
      group: 'parallel',
      variants: ['relay'],
      measure: (world, variant, round) =>
        withFreshFtpmasq(
          world,
          variant,
          `parallel-workers-${round}`,
          (target) => measureParallel(world, target, settings.parallelCount, settings.parallelClients),
          2,
        ),
    },
    {
      id: 'noop',
      variants: VARIANTS,
      measure: (world, variant) => measureNoop(world, world.target(variant), settings.noopCount),
    },
    {
      // The full count against a minimal scripted upstream: a fresh ftpmasq process each time.
      id: 'held-scripted',
      variants: ['relay', 'rewrite'],
      async measure(world, variant, round) {
        const { upstream } = await world.scripted();
        const mode = variant === 'rewrite' ? 'rewrite' : 'relay';
        const proxy = await world.startFtpmasq({
          name: `ftpmasq-held-${mode}-${round}`,
          mode,
          listenPort: PORTS.heldProxy,
          upstreamPort: PORTS.scriptedUpstream,
          passivePorts: '54000-54999',
          metricsPort: 9466,
        });
        try {
          const target = { variant, endpoint: { host: PUBLIC_ADDRESS, port: PORTS.heldProxy }, proxy, forkingProxy: false, server: upstream };
          return await measureHeld(world, target, settings.heldScripted);
        } finally {
          await proxy.stop();
        }
      },
    },
    {
      // Against the real ProFTPD, which forks a process per session: as many as this run affords.
      // ftpmasq: a fresh process each time, like the scripted figure; mod_proxy: its sessions are
      // fresh processes anyway.
      id: 'held-proftpd',
      variants: ['relay', 'rewrite', 'modproxy'],
      measure: (world, variant, round) =>
        withFreshFtpmasq(world, variant, `held-proftpd-${round}`, (target) => measureHeld(world, target, settings.heldProftpd)),
    },
  ];
}

/**
 * Runs a measurement against a fresh ftpmasq in front of ProFTPD (relay or rewrite), stopped
 * afterwards; the kernel NAT and mod_proxy are measured as they stand.
 */
async function withFreshFtpmasq(
  world: World,
  variant: Variant,
  tag: string,
  measure: (target: Target) => Promise<Measurement>,
  workers?: number,
  extraArgs?: readonly string[],
): Promise<Measurement> {
  if (variant !== 'relay' && variant !== 'rewrite') return measure(world.target(variant));
  const proxy = await world.startFtpmasq({
    name: `ftpmasq-${variant}-${tag}`,
    mode: variant,
    listenPort: PORTS.heldProxy,
    upstreamPort: PORTS.legacyServer,
    passivePorts: '54000-54999',
    metricsPort: 9466,
    workers,
    extraArgs,
  });
  try {
    const forkingProxy = workers !== undefined && workers > 1;
    return await measure({
      ...world.target(variant),
      endpoint: { host: PUBLIC_ADDRESS, port: PORTS.heldProxy },
      proxy,
      forkingProxy,
      childrenStay: forkingProxy,
    });
  } finally {
    await proxy.stop();
  }
}

function versionOf(file: string, args: readonly string[]): string {
  try {
    return execFileSync(file, [...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0]?.trim() ?? '';
  } catch {
    return 'unknown';
  }
}

const DOC_PATH = join(RESULTS_DIR, '..', '..', 'docs', 'PERFORMANCE.md');
const DOC_START = '<!-- bench:start -->';
const DOC_END = '<!-- bench:end -->';

/** Puts the run's table between the markers of docs/PERFORMANCE.md, leaving the prose alone. */
function updatePerformanceDoc(markdown: string): void {
  if (!existsSync(DOC_PATH)) return;
  const doc = readFileSync(DOC_PATH, 'utf8');
  const start = doc.indexOf(DOC_START);
  const end = doc.indexOf(DOC_END);
  if (start === -1 || end < start) {
    log(`${DOC_PATH} has no ${DOC_START} ... ${DOC_END} markers: not updated`);
    return;
  }
  writeFileSync(DOC_PATH, `${doc.slice(0, start + DOC_START.length)}\n${markdown}\n${doc.slice(end)}`);
  log(`updated ${DOC_PATH}`);
}

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function describe(figures: Readonly<Record<string, number>>): string {
  return Object.entries(figures)
    .map(([key, value]) => `${key}=${Number.isInteger(value) ? value : value.toFixed(3)}`)
    .join(' ');
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('npm run bench must run as root: it creates network namespaces and runs ProFTPD.\n');
    return 2;
  }
  const settings = parseArgs(process.argv.slice(2));
  const started = new Date();
  const loadAverageAtStart = loadavg();
  const profileDir = settings.cpuProf ? join(RESULTS_DIR, 'profiles') : undefined;
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const all = scenarios(settings).filter((scenario) => settings.only === undefined || settings.only.includes(scenario.id));
  const needsHeldProftpd = all.some((scenario) => scenario.id === 'held-proftpd');
  const world = await createWorld({
    sizes: { transferBytes: settings.transferBytes, parallelBytes: settings.parallelBytes },
    maxInstances: Math.max(500, needsHeldProftpd ? settings.heldProftpd * 2 + 200 : 0),
    cpuProfileDir: profileDir,
    log,
  });
  if (process.argv.includes('--world-only')) {
    // For profiling and debugging by hand: the world stays up until SIGINT.
    await world.scripted();
    log(`scripted upstream: direct ${PUBLIC_ADDRESS}:${PORTS.scriptedDirect}, relay :${PORTS.scriptedRelay}, rewrite :${PORTS.scriptedRewrite}`);
    log(`world up: client ${world.topology.client.namespace}, gateway ${world.topology.gateway}, server ${world.topology.server}`);
    log(`endpoints: ${VARIANTS.map((variant) => `${variant} ${PUBLIC_ADDRESS}:${PORTS[variant]}`).join(', ')}; Ctrl-C tears down`);
    await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    await world.teardown();
    return 0;
  }
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) return;
    stopping = true;
    log('interrupted: tearing down');
    void world.teardown().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const results: RoundResult[] = [];
  try {
    for (const batch of batchesOf(all)) {
      const variantsOf = (scenario: Scenario): Variant[] => scenario.variants.filter((variant) => settings.variants.includes(variant));
      for (const { scenario, variant, round } of runOrder(batch, settings.rounds, variantsOf)) {
        if (stopping) break;
        try {
          // Other work on the machine shows in the figures: each round keeps the load it started under.
          const loadAverage1 = loadavg()[0] ?? Number.NaN;
          const measurement = await scenario.measure(world, variant, round);
          results.push({ scenario: scenario.id, variant, round, figures: { ...measurement.figures, loadAverage1 } });
          const notes = measurement.notes === undefined ? '' : ` ${JSON.stringify(measurement.notes)}`;
          log(`${scenario.id} round ${round} ${variant}: ${describe(measurement.figures)}${notes}`);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          results.push({ scenario: scenario.id, variant, round, figures: {}, error: message });
          log(`${scenario.id} round ${round} ${variant}: FAILED ${message}`);
        }
      }
    }
  } finally {
    await world.teardown();
  }
  if (stopping) return 130;

  const finished = new Date();
  const command = `sudo npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const expected = { parallelCount: settings.parallelCount, heldScripted: settings.heldScripted };
  const targets = checkTargets(results, expected);
  const environment = {
    started: started.toISOString(),
    finished: finished.toISOString(),
    command,
    commit: versionOf('git', ['rev-parse', '--short', 'HEAD']),
    node: process.version,
    kernel: release(),
    cpu: `${cpus()[0]?.model ?? 'unknown'} x ${cpus().length}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    proftpd: versionOf('/usr/sbin/proftpd', ['-v']),
    modProxy: versionOf('dpkg-query', ['-W', '-f=${Version}', 'proftpd-mod-proxy']),
    curl: versionOf('curl', ['--version']),
    loadAverageAtStart,
  };
  const sizes = `transfers ${settings.transferBytes / MIB} MiB, ${settings.parallelCount} x ${settings.parallelBytes / MIB} MiB parallel` +
    `${settings.parallelClients > 1 ? ` (${settings.parallelClients} load clients)` : ''}, ` +
    `${settings.sessions1} / ${settings.sessions20} short sessions (1 / 20 clients), ${settings.sessionsScripted1} / ${settings.sessionsScripted} vs scripted upstream (1 / 20 clients), ${settings.noopCount} NOOPs, ` +
    `${settings.heldScripted} held vs scripted upstream, ${settings.heldProftpd} held vs ProFTPD, ${settings.rounds} rounds`;
  const failures = results.filter((result) => result.error !== undefined);
  const markdown = [
    `Run ${environment.started} to ${environment.finished}, commit ${environment.commit}, \`${command}\``,
    '',
    `${environment.cpu}, ${environment.memoryGiB} GiB, Linux ${environment.kernel}, Node ${environment.node}, ${environment.proftpd}, mod_proxy ${environment.modProxy}.`,
    `Sizes: ${sizes}. Cells: median (min–max) over rounds.`,
    '',
    markdownTable(results, ROWS),
    '',
    targetsTable(targets),
    '',
    '<details><summary>Where the CPU went</summary>',
    '',
    markdownTable(results, DETAIL_ROWS),
    '',
    '</details>',
    ...(failures.length === 0
      ? []
      : ['', 'Failed measurements:', '', ...failures.map((failure) => `- ${failure.scenario} round ${failure.round} ${failure.variant}: ${failure.error ?? ''}`)]),
    '',
  ].join('\n');
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  const json = JSON.stringify({ environment, settings, targets, results }, null, 2);
  const suffix = settings.quick ? '-quick' : '';
  writeFileSync(join(RESULTS_DIR, `${stamp}${suffix}.json`), `${json}\n`);
  writeFileSync(join(RESULTS_DIR, `${stamp}${suffix}.md`), markdown);
  // Only a complete default run is "latest": a partial one (--only, --variants, fewer rounds) would
  // replace the full table that latest.* and docs/PERFORMANCE.md quote with a few rows.
  const complete = !settings.quick && settings.only === undefined && settings.variants.length === VARIANTS.length && settings.rounds >= 3;
  if (complete) {
    writeFileSync(join(RESULTS_DIR, 'latest.json'), `${json}\n`);
    writeFileSync(join(RESULTS_DIR, 'latest.md'), markdown);
    updatePerformanceDoc(markdown);
  }
  process.stdout.write(markdown);
  log(`results: ${join(RESULTS_DIR, `${stamp}${suffix}.md`)}`);
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main();
