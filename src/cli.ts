#!/usr/bin/env node
/**
 * The command line: flags (and --config) -> validated DaemonConfig -> start(); signals go to the
 * Supervisor (SIGHUP reload, SIGTERM/SIGINT drain, a second one stops at once). The only file
 * that reads process.argv or calls process.exit. Exit codes: 0 ok (a stop by signal included,
 * drained or not), 2 bad input, 1 runtime failure.
 */
import { Command, CommanderError, Option } from 'commander';
import { buildCheckConfigCommand } from './commands/check-config.js';
import { buildDemoCommand } from './commands/demo.js';
import { buildProbeCommand } from './commands/probe.js';
import type { CommandIo } from './commands/command-io.js';
import { loadConfig } from './config/load-config.js';
import { isListOption, setListOption } from './config/option-specs.js';
import { OPTION_SPECS, type RawOptions } from './config/schema.js';
import { describeWorkers, resolveWorkers } from './config/process-fields-workers.js';
import { ConfigError } from './config/values.js';
import { KernelSetupError, ListenError, start } from './daemon.js';
import { formatEndpoint } from './daemon/reload-plan.js';
import { type LoadedConfig, Supervisor } from './daemon/supervisor.js';
import { AdmissionClient, primaryChannel } from './daemon/admission-client.js';
import { checkWorkerSlices, configForWorker } from './daemon/worker-config.js';
import { WorkerPool } from './daemon/worker-pool.js';
import { primarySignals, serveWorker, workerSlice } from './daemon/worker-process.js';
import type { SliceSpec } from './site/port-slices.js';
import { setSessionIdPrefix } from './session/session-ids.js';
import { createLogger } from './observability/logger.js';
import { findOpenFilesShortfall, readOpenFilesLimit } from './observability/process-limits.js';
import { packageVersion } from './package-info.js';

const EXIT_OK = 0;
const EXIT_RUNTIME = 1;
const EXIT_USAGE = 2;

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function buildProgram(io: CommandIo): Command {
  const program = new Command('ftpmasq')
    .description(
      'FTP proxy for legacy servers behind NAT: rewrites unroutable PASV addresses and relays data through its own passive ports.',
    )
    .version(packageVersion())
    .showHelpAfterError('(run ftpmasq --help for usage)')
    // Commander adds `help [command]` by itself only to a program without an action of its own.
    .helpCommand('help [command]', 'show help for ftpmasq, or for one command')
    .exitOverride();
  for (const spec of OPTION_SPECS) {
    const description =
      spec.defaultValue === undefined ? spec.description : `${spec.description} (default: ${spec.defaultValue})`;
    const option = new Option(`${spec.flag} <${spec.valueName}>`, description);
    if (spec.repeatable === true) option.argParser(collect);
    program.addOption(option);
  }
  program.option(
    '--config <FILE>',
    "YAML file: process keys and sites:, or one site's keys at the top; process flags win, per-site flags only beside a file without sites:",
  );
  program.action(async (options: Record<string, unknown>) => {
    const configPath = options['config'];
    const exitCode = await runProxy({ ...(typeof configPath === 'string' ? { configPath } : {}), flags: toRawOptions(options) });
    if (exitCode !== EXIT_OK) io.setExitCode(exitCode);
  });
  program.addCommand(buildDemoCommand(io));
  program.addCommand(buildProbeCommand(io));
  program.addCommand(buildCheckConfigCommand(io));
  return program;
}

/** Commander hands back unknown-typed values; keep only the strings the schema knows. */
function toRawOptions(options: Record<string, unknown>): RawOptions {
  const raw: RawOptions = {};
  for (const spec of OPTION_SPECS) {
    const key = spec.key;
    // Commander names a value after its flag: --allow-client is allowClient, the key allowClients.
    const value = options[new Option(spec.flag).attributeName()];
    if (isListOption(key)) {
      if (Array.isArray(value)) setListOption(raw, key, value.filter((item): item is string => typeof item === 'string'));
    } else if (typeof value === 'string') raw[key] = value;
  }
  return raw;
}

/** Where the configuration comes from: the same at start and at every SIGHUP. */
interface ConfigRequest {
  readonly configPath?: string;
  readonly flags: RawOptions;
}

/** The one place the CLI obtains a configuration, at start and on SIGHUP; a worker's is narrowed to its slice. */
function obtainConfig(request: ConfigRequest, slice?: SliceSpec): LoadedConfig {
  const loaded = loadConfig(request);
  if (slice === undefined) return loaded;
  const narrowed = configForWorker(loaded.config, slice);
  if (!narrowed.ok) throw new ConfigError('workers', '', String(slice.count), narrowed.reason);
  return { ...loaded, config: narrowed.value };
}

/** `workers: N` above 1 in the first process: it forks the workers and serves only metrics and signals. */
async function runPrimary(loaded: LoadedConfig, request: ConfigRequest, supervisor: Supervisor): Promise<number> {
  const { config } = loaded;
  const count = resolveWorkers(config).count;
  const slices = checkWorkerSlices(config, count);
  if (!slices.ok) throw new ConfigError('workers', '', String(count), slices.reason);
  const logger = createLogger(config.logLevel).child({ role: 'primary' });
  const pool = new WorkerPool({ count, logger, described: describeWorkers(config), metricsListen: config.metricsListen, signals: process, validateReload: () => obtainConfig(request, { index: 0, count }) });
  supervisor.dispose();
  const outcome = await pool.run();
  logger.info({ outcome: outcome.kind }, 'stopped');
  logger.flush();
  return outcome.kind === 'failed-start' ? outcome.exitCode : EXIT_OK;
}

async function runProxy(request: ConfigRequest): Promise<number> {
  const slice = workerSlice();
  // Before anything else: a SIGHUP or SIGTERM during start-up is handled once the daemon runs.
  const supervisor = new Supervisor(slice === undefined ? process : primarySignals());
  const loaded = obtainConfig(request, slice);
  const { config } = loaded;
  if (slice === undefined && resolveWorkers(config).count > 1) return runPrimary(loaded, request, supervisor);
  const logger = slice === undefined ? createLogger(config.logLevel) : createLogger(config.logLevel).child({ worker: slice.index, pid: process.pid });
  // A worker's session ids carry its index: the primary's live view lists every worker's together.
  if (slice !== undefined) setSessionIdPrefix(`${slice.index}-`);
  const shared = slice === undefined ? {} : { sharedAdmission: new AdmissionClient(primaryChannel()) };
  const daemon = await start(config, { logger, configHash: loaded.hash, ...shared });
  const openFiles = readOpenFilesLimit();
  const shortfall =
    openFiles === undefined
      ? undefined
      : findOpenFilesShortfall(
          openFiles.soft,
          config.sites.reduce((sum, site) => sum + site.maxSessions, 0),
          config.sites.reduce((sum, site) => sum + site.passivePorts.high - site.passivePorts.low + 1, 0),
        );
  if (shortfall !== undefined) {
    logger.warn(
      shortfall,
      'open files limit holds fewer sessions than --max-sessions allows; raise the limit (systemd LimitNOFILE, docker --ulimit nofile, ulimit -n) or lower --max-sessions to sessionsWithinLimit',
    );
  }
  const siteAddresses = daemon.siteAddresses;
  logger.info(
    {
      version: packageVersion(),
      config: loaded.hash,
      source: loaded.source,
      listen: daemon.addresses.map(formatEndpoint),
      sites: config.sites.map((site) => ({
        name: site.name,
        listen: (siteAddresses.get(site.name) ?? []).map(formatEndpoint),
        upstream: formatEndpoint(site.upstream),
        mode: site.mode,
        epsv: site.epsv,
        active: site.active,
        passivePorts: `${site.passivePorts.low}-${site.passivePorts.high}`,
        publicAddress: site.publicAddress ?? 'local address of each control connection',
      })),
      drainTimeoutMs: config.drainTimeoutMs,
      // One process: how many workers and, when fewer than the cores, why (a worker's line has its index instead).
      ...(slice === undefined ? describeWorkers(config) : {}),
      openFilesLimit: openFiles?.soft ?? 'unknown',
      metrics: daemon.metricsAddress === undefined ? 'off' : `http://${formatEndpoint(daemon.metricsAddress)}/metrics`,
    },
    'ftpmasq ready',
  );
  const worker = slice === undefined ? undefined : serveWorker(daemon);
  const outcome = await supervisor.run(daemon, { logger, reload: () => obtainConfig(request, slice) });
  logger.info({ cut: outcome.cut, timedOut: outcome.timedOut, forced: outcome.forced }, 'stopped');
  logger.flush();
  worker?.finish();
  return EXIT_OK;
}

/**
 * `ftpmasq help TOPIC` where TOPIC is no command: commander would print the whole usage to stderr
 * without saying what was wrong; this names the topic and the commands there are.
 */
function unknownHelpTopic(program: Command, args: readonly string[]): string | undefined {
  const [first, topic] = args;
  if (first !== 'help' || topic === undefined) return undefined;
  const names = program.commands.map((command) => command.name());
  if (names.includes(topic)) return undefined;
  return `help: no command ${JSON.stringify(topic)}; the commands are ${names.join(', ')} (ftpmasq --help lists the proxy's options)`;
}

async function main(argv: readonly string[]): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram({ setExitCode: (code) => (exitCode = code) });
  const helpProblem = unknownHelpTopic(program, argv.slice(2));
  if (helpProblem !== undefined) {
    process.stderr.write(`ftpmasq: ${helpProblem}\n`);
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0) {
        return EXIT_OK;
      }
      return EXIT_USAGE;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`ftpmasq: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof ListenError || error instanceof KernelSetupError) {
      process.stderr.write(`ftpmasq: ${error.message}\n`);
      return EXIT_RUNTIME;
    }
    process.stderr.write(`ftpmasq: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_RUNTIME;
  }
}

const exitCode = await main(process.argv);
process.exitCode = exitCode;
// Sessions in their close grace period must not hold a stopped proxy open.
setTimeout(() => process.exit(exitCode), 3000).unref();
