import { Command } from 'commander';
import type { CommandIo } from './command-io.js';

/** `ftpmasq demo`: see docs/ARCHITECTURE.md. */
export function buildDemoCommand(io: CommandIo): Command {
  return new Command('demo').description('reproduce the broken-PASV problem on loopback and show ftpmasq fixing it').action(() => {
    process.stderr.write('ftpmasq demo: not implemented yet\n');
    io.setExitCode(1);
  });
}
