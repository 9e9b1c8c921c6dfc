import { Command } from 'commander';
import type { CommandIo } from './command-io.js';

/** `ftpmasq probe ftp://user:pass@host[:port]`. */
export function buildProbeCommand(io: CommandIo): Command {
  return new Command('probe')
    .description('check whether an FTP server needs ftpmasq')
    .argument('<url>', 'ftp://user:pass@host[:port]')
    .action(() => {
      process.stderr.write('ftpmasq probe: not implemented yet\n');
      io.setExitCode(1);
    });
}
