import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  DATA_MODES,
  DIRECTIONS,
  LABEL_VALUES,
  METRIC_PREFIX,
  Metrics,
  REFUSAL_REASONS,
  REWRITE_KINDS,
  UPSTREAM_STAGES,
  isDefaultMetric,
} from '../../../src/observability/metrics.js';

type Snapshot = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

async function snapshots(metrics: Metrics): Promise<Snapshot[]> {
  return metrics.registry.getMetricsAsJSON();
}

async function snapshot(metrics: Metrics, name: string): Promise<Snapshot> {
  const found = (await snapshots(metrics)).find((metric) => metric.name === name);
  if (found === undefined) throw new Error(`no metric ${name}`);
  return found;
}

/** The value of the one series whose labels equal `labels` exactly (undefined when absent). */
async function valueOf(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = await snapshot(metrics, name);
  const series = metric.values.filter(
    (value) =>
      Object.keys(value.labels).length === Object.keys(labels).length &&
      Object.entries(labels).every(([key, expected]) => value.labels[key] === expected),
  );
  if (series.length > 1) throw new Error(`${name}: ${series.length} series match ${JSON.stringify(labels)}`);
  return series[0]?.value;
}

/** Every series of every own labelled metric, as `name{label="value"} value`. */
async function ownSeries(metrics: Metrics): Promise<Map<string, number>> {
  const result = new Map<string, number>();
  for (const metric of await snapshots(metrics)) {
    if (!(metric.name in LABEL_VALUES)) continue;
    for (const value of metric.values) {
      const labels = Object.entries(value.labels)
        .map(([key, text]) => `${key}="${String(text)}"`)
        .join(',');
      result.set(`${metric.name}{${labels}}`, value.value);
    }
  }
  return result;
}

const OWN_METRICS = [
  { name: 'ftpmasq_rewrites_total', type: 'counter', labels: { kind: REWRITE_KINDS } },
  { name: 'ftpmasq_sessions_active', type: 'gauge', labels: {} },
  { name: 'ftpmasq_sessions_total', type: 'counter', labels: {} },
  { name: 'ftpmasq_data_connections_total', type: 'counter', labels: { mode: DATA_MODES } },
  { name: 'ftpmasq_data_bytes_total', type: 'counter', labels: { direction: DIRECTIONS } },
  { name: 'ftpmasq_passive_ports_in_use', type: 'gauge', labels: {} },
  { name: 'ftpmasq_passive_ports_capacity', type: 'gauge', labels: {} },
  { name: 'ftpmasq_refusals_total', type: 'counter', labels: { reason: REFUSAL_REASONS } },
  { name: 'ftpmasq_upstream_errors_total', type: 'counter', labels: { stage: UPSTREAM_STAGES } },
  { name: 'ftpmasq_upstream_unroutable_pasv_total', type: 'counter', labels: {} },
  { name: 'ftpmasq_data_connection_setup_seconds', type: 'histogram', labels: {} },
  { name: 'ftpmasq_ready', type: 'gauge', labels: {} },
] as const;

describe('Metrics: names and help', () => {
  it('registers exactly the documented own metrics, in order, with their types', async () => {
    const own = (await snapshots(new Metrics())).filter((metric) => !isDefaultMetric(metric.name));
    expect(own.map((metric) => [metric.name, String(metric.type)])).toEqual(OWN_METRICS.map((m) => [m.name, m.type]));
  });

  it('prefixes every metric, prom-client defaults included, with ftpmasq_ and gives each help text', async () => {
    const all = await snapshots(new Metrics());
    expect(all.length).toBeGreaterThan(OWN_METRICS.length);
    for (const metric of all) {
      expect(metric.name.startsWith(METRIC_PREFIX), metric.name).toBe(true);
      expect(metric.name, 'Prometheus metric name syntax').toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
      expect(metric.help.trim().length, `${metric.name} help`).toBeGreaterThan(10);
    }
  });

  it('names counters *_total and nothing else *_total (what promtool check metrics demands)', async () => {
    for (const metric of await snapshots(new Metrics())) {
      expect(metric.name.endsWith('_total'), `${metric.name} is a ${String(metric.type)}`).toBe(String(metric.type) === 'counter');
    }
  });

  it('keeps the default process metrics under ftpmasq_process_ and ftpmasq_nodejs_', async () => {
    const names = (await snapshots(new Metrics())).map((metric) => metric.name);
    expect(names).toContain('ftpmasq_process_cpu_seconds_total');
    expect(names).toContain('ftpmasq_process_resident_memory_bytes');
    expect(names).toContain('ftpmasq_nodejs_eventloop_lag_seconds');
    expect(names).not.toContain('ftpmasq_nodejs_active_handles_total');
    expect(names.some((name) => name.startsWith('process_') || name.startsWith('nodejs_'))).toBe(false);
  });

  it('leaves the default metrics out when asked (one registry per test, no global state)', async () => {
    const names = (await snapshots(new Metrics({ defaultMetrics: false }))).map((metric) => metric.name);
    expect(names).toEqual(OWN_METRICS.map((metric) => metric.name));
  });

  it('uses an injected registry and can be built twice side by side', async () => {
    const registry = new Registry();
    const first = new Metrics({ registry, defaultMetrics: false });
    const second = new Metrics({ defaultMetrics: false });
    first.rewrite('pasv');
    expect(first.registry).toBe(registry);
    expect(await valueOf(first, 'ftpmasq_rewrites_total', { kind: 'pasv' })).toBe(1);
    expect(await valueOf(second, 'ftpmasq_rewrites_total', { kind: 'pasv' })).toBe(0);
  });
});

describe('Metrics: closed label sets, zero-initialised', () => {
  it('has a LABEL_VALUES entry for every labelled metric, naming its real label names', async () => {
    const labelled = OWN_METRICS.filter((metric) => Object.keys(metric.labels).length > 0);
    expect(Object.keys(LABEL_VALUES).sort()).toEqual(labelled.map((metric) => metric.name).sort());
    for (const metric of labelled) expect(LABEL_VALUES[metric.name]).toEqual(metric.labels);
  });

  it.each(OWN_METRICS.filter((metric) => Object.keys(metric.labels).length > 0))(
    '$name starts with one zero series per label value and no other',
    async ({ name, labels }) => {
      const metric = await snapshot(new Metrics({ defaultMetrics: false }), name);
      const entries: [string, readonly string[]][] = Object.entries(labels);
      const [label, values] = entries[0] ?? ['', []];
      expect(metric.values.map((value) => value.labels)).toEqual(values.map((value) => ({ [label]: value })));
      expect(metric.values.every((value) => value.value === 0)).toBe(true);
    },
  );

  it('label values are short snake_case words, never addresses or file names', () => {
    for (const labels of Object.values(LABEL_VALUES)) {
      for (const values of Object.values(labels)) {
        expect(new Set(values).size).toBe(values.length);
        for (const value of values) expect(value).toMatch(/^[a-z][a-z0-9_]{1,30}$/);
      }
    }
  });

  it('unlabelled counters and gauges start at 0, the histogram empty, ready at 0 without a probe', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    for (const name of [
      'ftpmasq_sessions_active',
      'ftpmasq_sessions_total',
      'ftpmasq_passive_ports_in_use',
      'ftpmasq_passive_ports_capacity',
      'ftpmasq_upstream_unroutable_pasv_total',
      'ftpmasq_ready',
    ]) {
      expect(await valueOf(metrics, name), name).toBe(0);
    }
    const histogram = await metrics.registry.getSingleMetricAsString('ftpmasq_data_connection_setup_seconds');
    expect(histogram).toMatch(/^ftpmasq_data_connection_setup_seconds_count 0$/m);
    expect(histogram).toMatch(/^ftpmasq_data_connection_setup_seconds_bucket\{le="\+Inf"\} 0$/m);
  });
});

describe('Metrics: the session-facing API moves exactly one series', () => {
  const cases = [
    ...REWRITE_KINDS.map((kind) => ({
      title: `rewrite(${kind})`,
      act: (metrics: Metrics) => metrics.rewrite(kind),
      series: `ftpmasq_rewrites_total{kind="${kind}"}`,
    })),
    ...REFUSAL_REASONS.map((reason) => ({
      title: `refuse(${reason})`,
      act: (metrics: Metrics) => metrics.refuse(reason),
      series: `ftpmasq_refusals_total{reason="${reason}"}`,
    })),
    ...UPSTREAM_STAGES.map((stage) => ({
      title: `upstreamError(${stage})`,
      act: (metrics: Metrics) => metrics.upstreamError(stage),
      series: `ftpmasq_upstream_errors_total{stage="${stage}"}`,
    })),
  ];

  it.each(cases)('$title', async ({ act, series }) => {
    const metrics = new Metrics({ defaultMetrics: false });
    const before = await ownSeries(metrics);
    act(metrics);
    act(metrics);
    const after = await ownSeries(metrics);
    expect([...after.keys()]).toEqual([...before.keys()]);
    for (const [key, value] of after) expect(value, key).toBe(key === series ? 2 : 0);
  });

  it('counts data bytes per direction, added as each relay closes', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.dataBytes.inc({ direction: 'to_client' }, 38_011);
    metrics.dataBytes.inc({ direction: 'to_server' }, 0);
    metrics.dataBytes.inc({ direction: 'to_client' }, 12);
    expect(await valueOf(metrics, 'ftpmasq_data_bytes_total', { direction: 'to_client' })).toBe(38_023);
    expect(await valueOf(metrics, 'ftpmasq_data_bytes_total', { direction: 'to_server' })).toBe(0);
  });

  it('ftpmasq_ready follows the readiness probe at every scrape', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    let ready = true;
    metrics.setReadinessProbe(() => ready);
    expect(await valueOf(metrics, 'ftpmasq_ready')).toBe(1);
    ready = false;
    expect(await valueOf(metrics, 'ftpmasq_ready')).toBe(0);
    ready = true;
    expect(await metrics.registry.getSingleMetricAsString('ftpmasq_ready')).toContain('\nftpmasq_ready 1');
  });
});
