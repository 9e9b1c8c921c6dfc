import { Command } from 'commander';
import { renderEffectiveConfig } from '../config/effective-config.js';
import { loadConfig } from '../config/load-config.js';
import type { CommandIo } from './command-io.js';

/**
 * `ftpmasq check-config FILE`: validates the file as `ftpmasq --config FILE` would (without
 * flags) and prints the effective configuration, every default filled in, with its hash. Exit 0
 * when valid; a problem is a ConfigError, which cli.ts prints as one line and exits 2 with.
 */
export function buildCheckConfigCommand(io: CommandIo): Command {
  return new Command('check-config')
    .description('validate a config file and print the effective configuration with every default filled in')
    .argument('<file>', 'the YAML config file')
    // addCommand() does not pass the program's exitOverride on: usage errors must reach cli.ts (exit 2).
    .exitOverride()
    .action((file: string) => {
      const loaded = loadConfig({ configPath: file, flags: {} });
      process.stdout.write(renderEffectiveConfig(loaded));
      io.setExitCode(0);
    });
}
