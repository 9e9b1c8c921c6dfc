#!/usr/bin/env node
/**
 * The command line: flags -> validated Config -> start(). The only file that reads
 * process.argv or calls process.exit. Exit codes: 0 ok, 2 bad input, 1 runtime failure.
 */
import { Command, CommanderError, Option } from 'commander';
import { buildCheckConfigCommand } from './commands/check-config.js';
import { buildDemoCommand } from './commands/demo.js';
import { buildProbeCommand } from './commands/probe.js';
import type { CommandIo } from './commands/command-io.js';
import { loadConfig } from './config/load-config.js';
import { OPTION_SPECS, type DaemonConfig, type RawOptions } from './config/schema.js';
import { ConfigError } from './config/values.js';
import { ListenError, start } from './daemon.js';
import { createLogger } from './observability/logger.js';
import { descriptorsNeeded, readOpenFilesLimit } from './observability/process-limits.js';

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
    .version('0.1.0')
    .showHelpAfterError('(run ftpmasq --help for usage)')
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
    const { config } = loadConfig({ configPath: typeof configPath === 'string' ? configPath : undefined, flags: toRawOptions(options) });
    await runProxy(config);
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
    const value = options[spec.key];
    if (typeof value === 'string') raw[spec.key] = value;
    else if (Array.isArray(value) && spec.key === 'listen') {
      raw.listen = value.filter((item): item is string => typeof item === 'string');
    }
  }
  return raw;
}

async function runProxy(daemonConfig: DaemonConfig): Promise<void> {
  const logger = createLogger(daemonConfig.logLevel);
  const [config] = daemonConfig.sites;
  if (config === undefined) throw new Error('a configuration without sites');
  const daemon = await start(daemonConfig, { logger });
  const openFiles = readOpenFilesLimit();
  const needed = descriptorsNeeded(config.maxSessions, config.passivePorts.high - config.passivePorts.low + 1);
  if (openFiles !== undefined && openFiles.soft < needed) {
    logger.warn(
      { openFilesLimit: openFiles.soft, needed, maxSessions: config.maxSessions },
      'open files limit is below what --max-sessions and --passive-ports can use; raise it (systemd LimitNOFILE, ulimit -n) or lower --max-sessions',
    );
  }
  logger.info(
    {
      listen: daemon.addresses.map((a) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`)),
      upstream: `${config.upstream.host}:${config.upstream.port}`,
      mode: config.mode,
      epsv: config.epsv,
      active: config.active,
      passivePorts: `${config.passivePorts.low}-${config.passivePorts.high}`,
      publicAddress: config.publicAddress ?? 'local address of each control connection',
      openFilesLimit: openFiles?.soft ?? 'unknown',
      metrics:
        daemon.metricsAddress === undefined ? 'off' : `http://${daemon.metricsAddress.host}:${daemon.metricsAddress.port}/metrics`,
    },
    'ftpmasq ready',
  );
  await new Promise<void>((resolve) => {
    const shutdown = (signal: NodeJS.Signals): void => {
      logger.info({ signal }, 'shutting down');
      void daemon.stop().then(resolve);
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });
  logger.info('stopped');
  logger.flush();
}

async function main(argv: readonly string[]): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram({ setExitCode: (code) => (exitCode = code) });
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
    if (error instanceof ListenError) {
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
