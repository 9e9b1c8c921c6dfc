/**
 * What `ftpmasq demo` prints: the summary block for a person, the one machine-readable line for
 * tests and scripts, and the commands to try by hand. Pure: a DemoSummary in, text out.
 */

/** The machine-readable line starts with this, followed by the DemoSummary as JSON. */
export const DEMO_SUMMARY_PREFIX = 'ftpmasq-demo-summary ';

export interface DemoSummary {
  readonly status: 'ok' | 'failed';
  /** Why the demo failed; absent when it worked. */
  readonly problem?: string;
  /** The legacy server's control address, HOST:PORT. */
  readonly server: string;
  readonly ftpmasq: string;
  readonly metricsUrl: string;
  readonly user: string;
  readonly password: string;
  /** The private address the legacy server puts in its 227 replies. */
  readonly privateAddress: string;
  /** The 227 the legacy server sent to ftpmasq. */
  readonly serverPasv?: string;
  /** The 227 ftpmasq sent to the client. */
  readonly clientPasv?: string;
  /** Where the client, trusting ftpmasq's 227, opened its data connection. */
  readonly dataTarget?: string;
  readonly file: string;
  readonly serverSize: number;
  readonly serverSha256: string;
  readonly size?: number;
  readonly sha256?: string;
  readonly matches?: boolean;
  /** ftpmasq_rewrites_total{kind="pasv"}, read from GET /metrics. */
  readonly rewritesPasv?: number;
  /** ftpmasq_rewrites_total summed over every kind. */
  readonly rewritesTotal?: number;
  /** Every TCP port the demo listens on (server, ftpmasq, metrics); all are closed when it stops. */
  readonly ports: readonly number[];
}

/**
 * The value of every sample of a metric in Prometheus text format (version 0.0.4), keyed by its
 * label set as written (`{kind="pasv"}`, or '' for none). Comments and other metrics are skipped.
 */
export function readMetricSamples(text: string, name: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    const match = /^(\{[^}]*\})?\s+(\S+)(?:\s+\d+)?\s*$/.exec(rest);
    if (match === null) continue;
    const value = Number(match[2]);
    if (Number.isNaN(value)) continue;
    samples.set(match[1] ?? '', value);
  }
  return samples;
}

function row(label: string, value: string): string {
  const [first = '', ...rest] = value.split('\n');
  const pad = ' '.repeat(21);
  return [`  ${label.padEnd(19)}${first}`, ...rest.map((line) => `${pad}${line}`)].join('\n');
}

export function formatDemoSummary(summary: DemoSummary): string {
  const lines = [
    'ftpmasq demo: a legacy FTP server whose PASV names a private address, with ftpmasq in front (loopback only)',
    '',
    row('legacy FTP server', `${summary.server}   behaves like ProFTPD without MasqueradeAddress`),
    row('ftpmasq', `${summary.ftpmasq}   relay mode, upstream ${summary.server}`),
    row('metrics', summary.metricsUrl),
    '',
  ];
  if (summary.serverPasv !== undefined) {
    lines.push(
      row(
        "server's 227",
        `${summary.serverPasv}\n` +
          `names ${summary.privateAddress}, a private address: a client that trusts it (curl before 7.74,\n` +
          `Python ftplib before 3.9.3) dials ${summary.privateAddress} and fails`,
      ),
    );
  }
  if (summary.clientPasv !== undefined) lines.push(row("ftpmasq's 227", summary.clientPasv));
  if (summary.size !== undefined && summary.sha256 !== undefined) {
    lines.push(
      row(
        'download',
        `${summary.file} through ${summary.dataTarget ?? '?'}, the address in ftpmasq's 227\n` +
          `${summary.size} bytes, sha256 ${summary.sha256}\n` +
          (summary.matches === true
            ? "matches the server's copy"
            : `DOES NOT MATCH the server's copy (${summary.serverSize} bytes, sha256 ${summary.serverSha256})`),
      ),
    );
  }
  if (summary.rewritesPasv !== undefined) {
    lines.push(row('GET /metrics', `ftpmasq_rewrites_total{kind="pasv"} ${summary.rewritesPasv}`));
  }
  if (summary.status === 'failed') lines.push('', `demo FAILED: ${summary.problem ?? 'unknown reason'}`);
  lines.push('', `${DEMO_SUMMARY_PREFIX}${JSON.stringify(summary)}`);
  return `${lines.join('\n')}\n`;
}

/** The commands a person can try while the demo keeps running. */
export function formatTryItYourself(summary: DemoSummary): string {
  const url = `ftp://${summary.user}:${summary.password}@${summary.ftpmasq}/${summary.file}`;
  const [, ftpmasqPort] = summary.ftpmasq.split(':');
  return [
    '',
    'ftpmasq keeps running. Try it yourself, then press Ctrl-C to stop:',
    '',
    '  # curl trusting the 227 address, as curl before 7.74 did; -v shows the 227 it gets',
    `  curl -v --disable-epsv --no-ftp-skip-pasv-ip -o ${summary.file} ${url}`,
    '',
    '  # the rewrite counter',
    `  curl -s ${summary.metricsUrl} | grep ftpmasq_rewrites_total`,
    '',
    "  # ftpmasq's own probe, against ftpmasq (the legacy server's private address is never dialled)",
    `  npx ftpmasq probe ftp://${summary.user}:${summary.password}@127.0.0.1:${ftpmasqPort ?? ''}`,
    '',
    '',
  ].join('\n');
}
