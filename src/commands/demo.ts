import { Command } from 'commander';
import { formatDemoSummary, formatTryItYourself } from '../demo/demo-report.js';
import { startDemo } from '../demo/demo-runner.js';
import { createLogger } from '../observability/logger.js';
import type { CommandIo } from './command-io.js';

/** Resolves with the first of SIGINT or SIGTERM (Ctrl-C in a terminal, `kill` otherwise). */
function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/**
 * `ftpmasq demo`: the broken-PASV problem and ftpmasq's fix on loopback, then ftpmasq keeps
 * serving until SIGINT/SIGTERM. Exit 0 after a clean stop, 1 when the scripted download failed.
 * See docs/ARCHITECTURE.md.
 */
export function buildDemoCommand(io: CommandIo): Command {
  return new Command('demo')
    .description('reproduce the broken-PASV problem on loopback and show ftpmasq fixing it')
    .option('--verbose', "ftpmasq's own log lines (JSON) on stderr")
    // addCommand() does not pass the program's exitOverride on: usage errors must reach cli.ts (exit 2).
    .exitOverride()
    .action(async (options: { verbose?: boolean }) => {
      // Listen before anything can arrive: a signal during start-up stops the demo, not the process.
      const stopSignal = waitForStopSignal();
      // `ftpmasq demo | head` closes stdout early: keep serving until the signal instead of crashing.
      process.stdout.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE') throw error;
      });
      const logger = createLogger(options.verbose === true ? 'info' : 'silent', process.stderr);
      const demo = await startDemo({ logger });
      process.stdout.write(formatDemoSummary(demo.summary));
      if (demo.summary.status !== 'ok') {
        await demo.stop();
        io.setExitCode(1);
        return;
      }
      process.stdout.write(formatTryItYourself(demo.summary));
      const signal = await stopSignal;
      process.stdout.write(`${signal}: stopping ftpmasq and the legacy server\n`);
      await demo.stop();
      process.stdout.write('ftpmasq-demo-stopped\n');
      io.setExitCode(0);
    });
}
