/** What a subcommand may ask of the CLI process: its exit code. cli.ts alone exits. */
export interface CommandIo {
  setExitCode(code: number): void;
}
