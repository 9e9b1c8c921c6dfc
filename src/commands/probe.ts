import { Command } from 'commander';
import { ConfigError } from '../config/values.js';
import { diagnoseProbe } from '../probe/diagnose.js';
import { formatProbeReport } from '../probe/format-report.js';
import { PROBE_URL_FORM, parseProbeUrl, redactUrl } from '../probe/probe-url.js';
import { DEFAULT_PROBE_TIMEOUTS, runProbe } from '../probe/run-probe.js';
import { formatTlsProbe, runTlsProbe } from '../probe/tls-probe.js';
import type { CommandIo } from './command-io.js';

/**
 * `ftpmasq probe ftp://user:pass@host[:port]`: logs in, checks PASV, EPSV and data connections
 * to the server's own addresses, and recommends an ftpmasq command line; then, on a second
 * connection, whether the server offers AUTH TLS and requires TLS session reuse on data. Exit 0 when the server
 * is fine for clients that reach it as the probe did, 1 when it needs ftpmasq or the probe
 * could not finish (the report says which), 2 for a bad URL.
 */
export function buildProbeCommand(io: CommandIo): Command {
  return new Command('probe')
    .description('check whether an FTP server needs ftpmasq')
    .argument('<url>', PROBE_URL_FORM)
    // addCommand() does not pass the program's exitOverride on: usage errors must reach cli.ts (exit 2).
    .exitOverride()
    .option('--json', 'print the observations and the diagnosis as JSON instead of the table')
    .action(async (url: string, options: { json?: boolean }) => {
      const parsed = parseProbeUrl(url);
      // The CLI prints a ConfigError as one line and exits 2.
      if (!parsed.ok) throw new ConfigError('probe URL', `${PROBE_URL_FORM} (${parsed.reason})`, redactUrl(url));
      const run = await runProbe(parsed.value);
      // On its own connection: a TLS-only server refuses the plain login above, and this still reports it.
      const tls = await runTlsProbe(parsed.value, DEFAULT_PROBE_TIMEOUTS);
      const diagnosis = diagnoseProbe(run);
      const shown = redactUrl(url);
      process.stdout.write(
        options.json === true
          ? `${JSON.stringify({ url: shown, run, diagnosis, tls }, null, 2)}\n`
          : `${formatProbeReport(run, diagnosis, shown)}${formatTlsProbe(tls)}`,
      );
      io.setExitCode(diagnosis.exitCode);
    });
}
