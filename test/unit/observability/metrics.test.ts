import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  DATA_MODES,
  DIRECTIONS,
  LABEL_VALUES,
  METRIC_PREFIX,
  Metrics,
  NFT_PROCESSES,
  NFT_RESTART_REASONS,
  RELOAD_RESULTS,
  REFUSAL_REASONS,
  REWRITE_KINDS,
  TLS_PROTOCOLS,
  ROUTED_VIA,
  PRECONNECT_OUTCOMES,
  TLS_RESULTS,
  TLS_SIDES,
  SITE_LABEL,
  type SiteMetrics,
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

/** Every series of every own metric that has labels, as `name{label="value",...}`, histograms left out. */
async function ownSeries(metrics: Metrics): Promise<Map<string, number>> {
  const result = new Map<string, number>();
  for (const metric of await snapshots(metrics)) {
    if (isDefaultMetric(metric.name) || String(metric.type) === 'histogram') continue;
    for (const value of metric.values) {
      if (Object.keys(value.labels).length === 0) continue;
      const labels = Object.entries(value.labels)
        .map(([key, text]) => `${key}="${String(text)}"`)
        .join(',');
      result.set(`${metric.name}{${labels}}`, value.value);
    }
  }
  return result;
}

/** Own metrics in registration order: their type, the labels of their closed sets, and whether they belong to a site. */
const OWN_METRICS = [
  { name: 'ftpmasq_rewrites_total', type: 'counter', labels: { kind: REWRITE_KINDS }, site: true },
  { name: 'ftpmasq_sessions_active', type: 'gauge', labels: {}, site: true },
  { name: 'ftpmasq_sessions_total', type: 'counter', labels: {}, site: true },
  { name: 'ftpmasq_data_connections_total', type: 'counter', labels: { mode: DATA_MODES }, site: true },
  { name: 'ftpmasq_data_bytes_total', type: 'counter', labels: { direction: DIRECTIONS }, site: true },
  { name: 'ftpmasq_passive_ports_in_use', type: 'gauge', labels: {}, site: true },
  { name: 'ftpmasq_passive_ports_capacity', type: 'gauge', labels: {}, site: true },
  { name: 'ftpmasq_passive_port_sessions', type: 'gauge', labels: {}, site: true },
  { name: 'ftpmasq_refusals_total', type: 'counter', labels: { reason: REFUSAL_REASONS }, site: true },
  { name: 'ftpmasq_upstream_errors_total', type: 'counter', labels: { stage: UPSTREAM_STAGES }, site: true },
  { name: 'ftpmasq_upstream_unroutable_pasv_total', type: 'counter', labels: {}, site: true },
  { name: 'ftpmasq_data_connection_setup_seconds', type: 'histogram', labels: {}, site: true },
  { name: 'ftpmasq_upstream_up', type: 'gauge', labels: {}, site: true },
  { name: 'ftpmasq_public_address_lookup_failures_total', type: 'counter', labels: {}, site: true },
  { name: 'ftpmasq_routed_logins_total', type: 'counter', labels: { via: ROUTED_VIA }, site: true },
  { name: 'ftpmasq_upstream_preconnects_total', type: 'counter', labels: { outcome: PRECONNECT_OUTCOMES }, site: true },
  { name: 'ftpmasq_upstream_preconnected', type: 'gauge', labels: {}, site: true },
  { name: 'ftpmasq_tls_handshakes_total', type: 'counter', labels: { side: TLS_SIDES, result: TLS_RESULTS }, site: true },
  { name: 'ftpmasq_tls_protocols_total', type: 'counter', labels: { side: TLS_SIDES, protocol: TLS_PROTOCOLS }, site: true },
  { name: 'ftpmasq_ready', type: 'gauge', labels: {}, site: false },
  { name: 'ftpmasq_draining', type: 'gauge', labels: {}, site: false },
  { name: 'ftpmasq_config_reloads_total', type: 'counter', labels: { result: RELOAD_RESULTS }, site: false },
  { name: 'ftpmasq_config_info', type: 'gauge', labels: {}, site: false },
  { name: 'ftpmasq_build_info', type: 'gauge', labels: {}, site: false },
  { name: 'ftpmasq_kernel_nft_processes_total', type: 'counter', labels: { process: NFT_PROCESSES }, site: false },
  { name: 'ftpmasq_kernel_nft_restarts_total', type: 'counter', labels: { cause: NFT_RESTART_REASONS }, site: false },
] as const;

const SITE_METRICS = OWN_METRICS.filter((metric) => metric.site);

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
    first.forSite('a').rewrite('pasv');
    second.forSite('a');
    expect(first.registry).toBe(registry);
    expect(await valueOf(first, 'ftpmasq_rewrites_total', { site: 'a', kind: 'pasv' })).toBe(1);
    expect(await valueOf(second, 'ftpmasq_rewrites_total', { site: 'a', kind: 'pasv' })).toBe(0);
  });
});

describe('Metrics: closed label sets, zero-initialised per site', () => {
  it('has a LABEL_VALUES entry for every metric with a closed label set, naming its real label names', () => {
    const labelled = OWN_METRICS.filter((metric) => Object.keys(metric.labels).length > 0);
    expect(Object.keys(LABEL_VALUES).sort()).toEqual(labelled.map((metric) => metric.name).sort());
    for (const metric of labelled) expect(LABEL_VALUES[metric.name]).toEqual(metric.labels);
  });

  it('has no series of a site before the site is created', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    for (const { name } of SITE_METRICS) expect((await snapshot(metrics, name)).values, name).toEqual([]);
  });

  it.each(SITE_METRICS.filter((metric) => Object.keys(metric.labels).length > 0))(
    '$name: forSite() creates one zero series per label value and site, and no other',
    async ({ name, labels }) => {
      const metrics = new Metrics({ defaultMetrics: false });
      metrics.forSite('north');
      metrics.forSite('south');
      const metric = await snapshot(metrics, name);
      const entries: [string, readonly string[]][] = Object.entries(labels);
      // Every combination of the closed label values (two labels for the TLS counters), per site.
      const combinations = entries.reduce<Record<string, string>[]>(
        (partial, [label, values]) => partial.flatMap((labelSet) => values.map((value) => ({ ...labelSet, [label]: value }))),
        [{}],
      );
      expect(metric.values.map((value) => value.labels)).toEqual(
        ['north', 'south'].flatMap((site) => combinations.map((labelSet) => ({ [SITE_LABEL]: site, ...labelSet }))),
      );
      expect(metric.values.every((value) => value.value === 0)).toBe(true);
    },
  );

  it('process-level metrics carry no site label', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.forSite('north');
    metrics.setConfigHash('0123456789ab');
    for (const { name } of OWN_METRICS.filter((metric) => !metric.site)) {
      for (const value of (await snapshot(metrics, name)).values) expect(Object.keys(value.labels), name).not.toContain(SITE_LABEL);
    }
  });

  it('label values are short snake_case words, never addresses or file names', () => {
    for (const labels of Object.values(LABEL_VALUES)) {
      for (const values of Object.values(labels)) {
        expect(new Set(values).size).toBe(values.length);
        for (const value of values) expect(value).toMatch(/^[a-z][a-z0-9_]{1,30}$/);
      }
    }
  });

  it("a site's unlabelled counters and gauges start at 0 and its histogram empty; ready and draining at 0", async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.forSite('north');
    for (const name of [
      'ftpmasq_sessions_active',
      'ftpmasq_sessions_total',
      'ftpmasq_passive_ports_in_use',
      'ftpmasq_passive_ports_capacity',
      'ftpmasq_passive_port_sessions',
      'ftpmasq_upstream_unroutable_pasv_total',
    ]) {
      expect(await valueOf(metrics, name, { site: 'north' }), name).toBe(0);
    }
    expect(await valueOf(metrics, 'ftpmasq_ready')).toBe(0);
    expect(await valueOf(metrics, 'ftpmasq_draining')).toBe(0);
    const histogram = await metrics.registry.getSingleMetricAsString('ftpmasq_data_connection_setup_seconds');
    expect(histogram).toMatch(/^ftpmasq_data_connection_setup_seconds_count\{site="north"\} 0$/m);
    expect(histogram).toMatch(/^ftpmasq_data_connection_setup_seconds_bucket\{le="\+Inf",site="north"\} 0$/m);
  });

  it('forSite() twice returns the same view and does not reset what it counted', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const first = metrics.forSite('north');
    first.sessionStarted();
    first.refuse('session_limit');
    expect(metrics.forSite('north')).toBe(first);
    expect(await valueOf(metrics, 'ftpmasq_sessions_active', { site: 'north' })).toBe(1);
    expect(await valueOf(metrics, 'ftpmasq_refusals_total', { site: 'north', reason: 'session_limit' })).toBe(1);
    expect(metrics.siteNames()).toEqual(['north']);
  });

  it('removeSite() drops every series of that site and no other', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.forSite('north').rewrite('pasv');
    metrics.forSite('south').rewrite('pasv');
    metrics.removeSite('north');
    const text = await metrics.registry.metrics();
    expect(text).not.toContain('site="north"');
    expect(text).toMatch(/^ftpmasq_rewrites_total\{site="south",kind="pasv"\} 1$/m);
    expect(metrics.siteNames()).toEqual(['south']);
    // A site added again later starts from zero.
    metrics.forSite('north');
    expect(await valueOf(metrics, 'ftpmasq_rewrites_total', { site: 'north', kind: 'pasv' })).toBe(0);
  });
});

describe('Metrics: the session-facing API moves exactly one series of its own site', () => {
  const cases: { title: string; act: (site: SiteMetrics) => void; series: string }[] = [
    ...REWRITE_KINDS.map((kind) => ({
      title: `rewrite(${kind})`,
      act: (site: SiteMetrics) => site.rewrite(kind),
      series: `ftpmasq_rewrites_total{site="north",kind="${kind}"}`,
    })),
    ...REFUSAL_REASONS.map((reason) => ({
      title: `refuse(${reason})`,
      act: (site: SiteMetrics) => site.refuse(reason),
      series: `ftpmasq_refusals_total{site="north",reason="${reason}"}`,
    })),
    ...UPSTREAM_STAGES.map((stage) => ({
      title: `upstreamError(${stage})`,
      act: (site: SiteMetrics) => site.upstreamError(stage),
      series: `ftpmasq_upstream_errors_total{site="north",stage="${stage}"}`,
    })),
    ...DATA_MODES.map((mode) => ({
      title: `dataConnection(${mode})`,
      act: (site: SiteMetrics) => site.dataConnection(mode, 0.001),
      series: `ftpmasq_data_connections_total{site="north",mode="${mode}"}`,
    })),
    { title: 'sessionStarted', act: (site: SiteMetrics) => site.sessionStarted(), series: 'ftpmasq_sessions_total{site="north"}' },
    { title: 'upstreamUnroutablePasv', act: (site: SiteMetrics) => site.upstreamUnroutablePasv(), series: 'ftpmasq_upstream_unroutable_pasv_total{site="north"}' },
  ];

  it.each(cases)('$title', async ({ act, series }) => {
    const metrics = new Metrics({ defaultMetrics: false });
    const north = metrics.forSite('north');
    metrics.forSite('south');
    const before = await ownSeries(metrics);
    act(north);
    act(north);
    const after = await ownSeries(metrics);
    expect([...after.keys()]).toEqual([...before.keys()]);
    const moved = [...after].filter(([key, value]) => value !== before.get(key)).map(([key]) => key);
    // sessionStarted moves the active gauge too.
    expect(moved.filter((key) => !key.startsWith('ftpmasq_sessions_active'))).toEqual([series]);
    expect(after.get(series)).toBe(2);
  });

  it('counts data bytes per direction and site, added as each relay closes', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const north = metrics.forSite('north');
    metrics.forSite('south').dataBytes('to_client', 5);
    north.dataBytes('to_client', 38_011);
    north.dataBytes('to_server', 0);
    north.dataBytes('to_client', 12);
    expect(await valueOf(metrics, 'ftpmasq_data_bytes_total', { site: 'north', direction: 'to_client' })).toBe(38_023);
    expect(await valueOf(metrics, 'ftpmasq_data_bytes_total', { site: 'north', direction: 'to_server' })).toBe(0);
    expect(await valueOf(metrics, 'ftpmasq_data_bytes_total', { site: 'south', direction: 'to_client' })).toBe(5);
  });

  it('sessions, passive ports and the upstream gauge are per site', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const north = metrics.forSite('north');
    const south = metrics.forSite('south');
    north.sessionStarted();
    north.sessionStarted();
    north.sessionEnded();
    south.passivePorts(3, 100);
    north.upstreamReachable(true);
    south.upstreamReachable(false);
    expect(await valueOf(metrics, 'ftpmasq_sessions_active', { site: 'north' })).toBe(1);
    expect(await valueOf(metrics, 'ftpmasq_sessions_total', { site: 'north' })).toBe(2);
    expect(await valueOf(metrics, 'ftpmasq_sessions_active', { site: 'south' })).toBe(0);
    expect(await valueOf(metrics, 'ftpmasq_passive_ports_in_use', { site: 'south' })).toBe(3);
    expect(await valueOf(metrics, 'ftpmasq_passive_ports_capacity', { site: 'south' })).toBe(100);
    expect(await valueOf(metrics, 'ftpmasq_passive_ports_capacity', { site: 'north' })).toBe(0);
    expect(await valueOf(metrics, 'ftpmasq_upstream_up', { site: 'north' })).toBe(1);
    expect(await valueOf(metrics, 'ftpmasq_upstream_up', { site: 'south' })).toBe(0);
  });

  it('observes data connection setup time in the site histogram', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.forSite('north').dataConnection('passive', 0.003);
    const text = await metrics.registry.getSingleMetricAsString('ftpmasq_data_connection_setup_seconds');
    expect(text).toMatch(/^ftpmasq_data_connection_setup_seconds_count\{site="north"\} 1$/m);
    expect(text).toMatch(/^ftpmasq_data_connection_setup_seconds_bucket\{le="0.0025",site="north"\} 0$/m);
    expect(text).toMatch(/^ftpmasq_data_connection_setup_seconds_bucket\{le="0.005",site="north"\} 1$/m);
  });
});

describe('Metrics: process level', () => {
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

  it('ftpmasq_draining is 1 while draining', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.setDraining(true);
    expect(await valueOf(metrics, 'ftpmasq_draining')).toBe(1);
    metrics.setDraining(false);
    expect(await valueOf(metrics, 'ftpmasq_draining')).toBe(0);
  });

  it('ftpmasq_config_reloads_total counts by result, both at zero from the start', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    expect(await valueOf(metrics, 'ftpmasq_config_reloads_total', { result: 'success' })).toBe(0);
    expect(await valueOf(metrics, 'ftpmasq_config_reloads_total', { result: 'failure' })).toBe(0);
    metrics.configReload('failure');
    metrics.configReload('failure');
    metrics.configReload('success');
    expect(await valueOf(metrics, 'ftpmasq_config_reloads_total', { result: 'success' })).toBe(1);
    expect(await valueOf(metrics, 'ftpmasq_config_reloads_total', { result: 'failure' })).toBe(2);
  });

  it('ftpmasq_config_info has one series, labelled with the running hash', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    expect((await snapshot(metrics, 'ftpmasq_config_info')).values).toEqual([]);
    metrics.setConfigHash('aaaaaaaaaaaa');
    metrics.setConfigHash('bbbbbbbbbbbb');
    metrics.setConfigHash('bbbbbbbbbbbb');
    const values = (await snapshot(metrics, 'ftpmasq_config_info')).values;
    expect(values.map((value) => [value.labels, value.value])).toEqual([[{ hash: 'bbbbbbbbbbbb' }, 1]]);
  });

  it('ftpmasq_build_info is one series at 1: the package.json version and the running Node.js', async () => {
    const manifest: unknown = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    const version: unknown = typeof manifest === 'object' && manifest !== null ? Reflect.get(manifest, 'version') : undefined;
    const values = (await snapshot(new Metrics({ defaultMetrics: false }), 'ftpmasq_build_info')).values;
    expect(values.map((value) => [value.labels, value.value])).toEqual([[{ version, node: process.versions.node }, 1]]);
    expect(process.versions.node).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('ftpmasq_build_info takes what it is given (a test or an embedding program)', async () => {
    const metrics = new Metrics({ defaultMetrics: false, buildInfo: { version: '9.8.7-rc.1', node: '30.0.0' } });
    expect(await metrics.registry.getSingleMetricAsString('ftpmasq_build_info')).toMatch(
      /^ftpmasq_build_info\{version="9\.8\.7-rc\.1",node="30\.0\.0"\} 1$/m,
    );
  });
});
