/**
 * The README's metrics table, rendered from a metrics registry so the documentation cannot drift
 * from what /metrics serves (a unit test compares the README region with this output).
 */
import type { Registry } from 'prom-client';
import { DEFAULT_METRIC_PREFIXES, Metrics, OPEN_LABELS, isDefaultMetric } from './metrics.js';

/**
 * Metrics with every series a running ftpmasq serves: one site (`default`, the name the flags give
 * their site) and a configuration hash. The tables are rendered from this.
 */
export function documentationMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const metrics = new Metrics(options);
  metrics.forSite('default');
  metrics.setConfigHash('0123456789ab');
  return metrics;
}

interface MetricRow {
  readonly name: string;
  readonly type: string;
  readonly labels: string;
  readonly help: string;
}

function escapeCell(text: string): string {
  return text.replaceAll('|', '\\|');
}

function code(text: string): string {
  return `\`${text}\``;
}

/**
 * "`kind`: `pasv`, `epsv`" per label, from the series present (the closed sets, zero-initialised);
 * a label whose values come from the configuration (`site`, `hash`) is described instead.
 */
function describeLabels(type: string, series: readonly { labels: Partial<Record<string, string | number>> }[]): string {
  const valuesByLabel = new Map<string, string[]>();
  for (const { labels } of series) {
    for (const [label, value] of Object.entries(labels)) {
      if (value === undefined) continue;
      if (type === 'histogram' && label === 'le') continue;
      const values = valuesByLabel.get(label) ?? [];
      if (!values.includes(String(value))) values.push(String(value));
      valuesByLabel.set(label, values);
    }
  }
  const parts = [...valuesByLabel].map(([label, values]) => `${code(label)}: ${OPEN_LABELS[label] ?? values.map(code).join(', ')}`);
  if (type === 'histogram') {
    const bounds = series.flatMap(({ labels }) => (labels['le'] === undefined ? [] : [String(labels['le'])]));
    const unique = [...new Set(bounds)].filter((bound) => bound !== '+Inf');
    if (unique.length > 0) parts.push(`buckets (${code('le')}) ${unique[0] ?? ''} to ${unique.at(-1) ?? ''}`);
  }
  return parts.join('; ');
}

/**
 * A Markdown table of every metric in the registry, in registration order: name, type, labels with
 * their closed value sets, and the help text. prom-client's default process and runtime metrics
 * (which vary by platform) are summarised in one last row.
 */
export async function renderMetricsTable(registry: Registry): Promise<string> {
  const rows: MetricRow[] = [];
  let hasDefaults = false;
  for (const snapshot of await registry.getMetricsAsJSON()) {
    if (isDefaultMetric(snapshot.name)) {
      hasDefaults = true;
      continue;
    }
    rows.push({
      name: snapshot.name,
      type: String(snapshot.type),
      labels: describeLabels(String(snapshot.type), snapshot.values),
      help: snapshot.help,
    });
  }
  const lines = [
    '| Metric | Type | Labels | Meaning |',
    '| --- | --- | --- | --- |',
    ...rows.map((row) => `| ${code(row.name)} | ${row.type} | ${escapeCell(row.labels)} | ${escapeCell(row.help)} |`),
  ];
  if (hasDefaults) {
    const names = DEFAULT_METRIC_PREFIXES.map((prefix) => code(`${prefix}*`)).join(', ');
    lines.push(
      `| ${names} | various | | prom-client's default process and Node.js runtime metrics (CPU, memory, file descriptors, event loop lag, heap, GC), with the ftpmasq_ prefix |`,
    );
  }
  return lines.join('\n');
}

/**
 * What the README holds between `<!-- metrics:start -->` and `<!-- metrics:end -->`: the table and
 * where to read on.
 */
export async function renderReadmeMetricsSection(registry: Registry): Promise<string> {
  return [
    await renderMetricsTable(registry),
    '',
    'Served on `--metrics-listen` (default `127.0.0.1:9464`) at `/metrics`, beside `/healthz`, `/readyz` and the live view (`/sessions`, `/`: [docs/OPERATIONS.md](docs/OPERATIONS.md#live-view)).',
    'What each metric counts, example queries and the alerts: [docs/METRICS.md](docs/METRICS.md); a scrape',
    'config and alert rules checked by `promtool`: [deploy/prometheus/](deploy/prometheus/); the log format:',
    '[docs/LOGGING.md](docs/LOGGING.md).',
  ].join('\n');
}

/**
 * `text` with what lies between `<!-- name:start -->` and `<!-- name:end -->` replaced by `content`;
 * an error when the markers are missing or out of order.
 */
export function replaceMarkedRegion(text: string, name: string, content: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  if (from === -1 || to === -1 || to < from) throw new Error(`no ${start} ... ${end} markers in order`);
  return `${text.slice(0, from + start.length)}\n${content}\n${text.slice(to)}`;
}
