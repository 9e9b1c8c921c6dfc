/**
 * Every Prometheus metric ftpmasq exports, on an injectable registry so tests get a fresh one.
 * Label values are closed sets (no client addresses, no file names) or the configuration's site
 * names; every series of a site exists at zero from the moment the site is created, so `rate()`
 * and `absent()` behave before the first event.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { packageVersion } from '../package-info.js';
import { SiteMetrics } from './site-metrics.js';
import {
  LABEL_VALUES,
  NFT_PROCESSES,
  NFT_RESTART_REASONS,
  RELOAD_RESULTS,
  SITE_LABEL,
  type NftProcess,
  type NftRestartReason,
  type ReloadOutcome,
} from './metric-labels.js';

/** Every metric name starts with this, prom-client's default process metrics included. */
export const METRIC_PREFIX = 'ftpmasq_';
/** The prefixes of prom-client's default process and runtime metrics, under {@link METRIC_PREFIX}. */
export const DEFAULT_METRIC_PREFIXES = [`${METRIC_PREFIX}process_`, `${METRIC_PREFIX}nodejs_`] as const;
/**
 * prom-client defaults that are gauges named `..._total`, which `promtool check metrics` rejects
 * ("non-counter metrics should not have _total suffix"). Each is the sum of the labelled gauge of
 * the same name without `_total`, so nothing is lost by dropping them.
 */
const DROPPED_DEFAULT_METRICS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

export * from './metric-labels.js';

/** What `ftpmasq_build_info` says about the running program. */
export interface BuildInfo {
  readonly version: string;
  readonly node: string;
}

/** The running program's: the package's version and the Node.js that runs it. */
export function currentBuildInfo(): BuildInfo {
  return { version: packageVersion(), node: process.versions.node };
}

/** Whether a metric is one of prom-client's defaults rather than ftpmasq's own. */
export function isDefaultMetric(name: string): boolean {
  return DEFAULT_METRIC_PREFIXES.some((prefix) => name.startsWith(prefix));
}

type Site = typeof SITE_LABEL;

/** Every label set of a metric's closed labels (LABEL_VALUES), each with the site's label added. */
function labelCombinations(metricName: string, site: Readonly<Record<Site, string>>): Array<Record<string, string>> {
  let combinations: Array<Record<string, string>> = [{ ...site }];
  for (const [label, values] of Object.entries(LABEL_VALUES[metricName] ?? {})) {
    combinations = combinations.flatMap((partial) => values.map((value) => ({ ...partial, [label]: value })));
  }
  return combinations;
}

export class Metrics {
  readonly registry: Registry;
  readonly rewrites: Counter<Site | 'kind'>;
  readonly sessionsActive: Gauge<Site>;
  readonly sessionsTotal: Counter<Site>;
  readonly dataConnections: Counter<Site | 'mode'>;
  readonly dataBytes: Counter<Site | 'direction'>;
  readonly passivePortsInUse: Gauge<Site>;
  readonly passivePortsCapacity: Gauge<Site>;
  readonly passivePortSessions: Gauge<Site>;
  readonly refusals: Counter<Site | 'reason'>;
  readonly upstreamErrors: Counter<Site | 'stage'>;
  readonly upstreamUnroutablePasv: Counter<Site>;
  readonly tlsHandshakes: Counter<Site | 'side' | 'result'>;
  readonly tlsProtocols: Counter<Site | 'side' | 'protocol'>;
  readonly dataSetupSeconds: Histogram<Site>;
  readonly upstreamUp: Gauge<Site>;
  readonly publicAddressLookupFailures: Counter<Site>;
  readonly routedLogins: Counter<Site | 'via'>;
  readonly upstreamPreconnects: Counter<Site | 'outcome'>;
  readonly upstreamPreconnected: Gauge<Site>;
  readonly ready: Gauge;
  readonly draining: Gauge;
  readonly configReloads: Counter<'result'>;
  readonly configInfo: Gauge<'hash'>;
  readonly buildInfo: Gauge<keyof BuildInfo>;
  readonly kernelNftProcesses: Counter<'process'>;
  readonly kernelNftRestarts: Counter<'cause'>;
  private readinessProbe: (() => boolean) | undefined;
  private readonly sites = new Map<string, SiteMetrics>();
  private configHash: string | undefined;

  constructor(options: { registry?: Registry; defaultMetrics?: boolean; buildInfo?: BuildInfo } = {}) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    const registers = [registry];
    this.rewrites = new Counter({
      name: 'ftpmasq_rewrites_total',
      help: 'Replies or commands whose data address or port ftpmasq changed, by kind.',
      labelNames: [SITE_LABEL, 'kind'],
      registers,
    });
    this.sessionsActive = new Gauge({
      name: 'ftpmasq_sessions_active',
      help: 'Client control sessions open now.',
      labelNames: [SITE_LABEL],
      registers,
    });
    this.sessionsTotal = new Counter({
      name: 'ftpmasq_sessions_total',
      help: 'Client control sessions accepted since start.',
      labelNames: [SITE_LABEL],
      registers,
    });
    this.dataConnections = new Counter({
      name: 'ftpmasq_data_connections_total',
      help: 'Data connections relayed (both ends connected), by mode.',
      labelNames: [SITE_LABEL, 'mode'],
      registers,
    });
    this.dataBytes = new Counter({
      name: 'ftpmasq_data_bytes_total',
      help: 'Data connection bytes relayed, counted when each data connection closes, by direction.',
      labelNames: [SITE_LABEL, 'direction'],
      registers,
    });
    this.passivePortsInUse = new Gauge({
      name: 'ftpmasq_passive_ports_in_use',
      help: "Ports of the site's passive ranges held now (listening or relaying), a range left by a reload included until its last session ends.",
      labelNames: [SITE_LABEL],
      registers,
    });
    this.passivePortsCapacity = new Gauge({
      name: 'ftpmasq_passive_ports_capacity',
      help: "Size of the site's passive port range.",
      labelNames: [SITE_LABEL],
      registers,
    });
    this.passivePortSessions = new Gauge({
      name: 'ftpmasq_passive_port_sessions',
      help: 'Sessions holding a passive port now (waiting for their data connection or relaying on it); above ftpmasq_passive_ports_in_use when passivePortSharing lets clients of different addresses share ports.',
      labelNames: [SITE_LABEL],
      registers,
    });
    this.refusals = new Counter({
      name: 'ftpmasq_refusals_total',
      help: 'Commands or connections ftpmasq refused, by reason.',
      labelNames: [SITE_LABEL, 'reason'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'ftpmasq_upstream_errors_total',
      help: 'Failures talking to the upstream server, by stage.',
      labelNames: [SITE_LABEL, 'stage'],
      registers,
    });
    this.upstreamUnroutablePasv = new Counter({
      name: 'ftpmasq_upstream_unroutable_pasv_total',
      help: 'Upstream 227 replies that named an address the client cannot reach or that is not the upstream itself.',
      labelNames: [SITE_LABEL],
      registers,
    });
    this.dataSetupSeconds = new Histogram({
      name: 'ftpmasq_data_connection_setup_seconds',
      help: 'Time from the first data connection arriving (or the transfer command, in active mode) until both ends are connected.',
      labelNames: [SITE_LABEL],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.upstreamUp = new Gauge({
      name: 'ftpmasq_upstream_up',
      help: "1 when the site's upstream accepted a TCP connection at the last check (every 10 s), else 0.",
      labelNames: [SITE_LABEL],
      // With workers each checks on its own: up when every one of them reached it, never a sum.
      aggregator: 'min',
      registers,
    });
    this.publicAddressLookupFailures = new Counter({
      name: 'ftpmasq_public_address_lookup_failures_total',
      help: 'Failed lookups of a publicAddress given as a DNS name; the last good address stays advertised.',
      labelNames: [SITE_LABEL],
      registers,
    });
    this.routedLogins = new Counter({
      name: 'ftpmasq_routed_logins_total',
      help: "Logins on a site with routes, by whether a route matched the user name or the site's own upstream took it.",
      labelNames: [SITE_LABEL, 'via'],
      registers,
    });
    this.upstreamPreconnects = new Counter({
      name: 'ftpmasq_upstream_preconnects_total',
      help: 'Upstream control connections dialled ahead of their sessions (upstreamPreconnect), by what became of them.',
      labelNames: [SITE_LABEL, 'outcome'],
      registers,
    });
    this.upstreamPreconnected = new Gauge({
      name: 'ftpmasq_upstream_preconnected',
      help: 'Upstream control connections dialled and waiting for a session now (upstreamPreconnect).',
      labelNames: [SITE_LABEL],
      registers,
    });
    this.tlsHandshakes = new Counter({
      name: 'ftpmasq_tls_handshakes_total',
      help: 'TLS handshakes of ftpmasq (FTPS) towards clients and towards the upstream, by side and result.',
      labelNames: [SITE_LABEL, 'side', 'result'],
      registers,
    });
    this.tlsProtocols = new Counter({
      name: 'ftpmasq_tls_protocols_total',
      help: 'Successful TLS handshakes by side and negotiated TLS version.',
      labelNames: [SITE_LABEL, 'side', 'protocol'],
      registers,
    });
    this.ready = new Gauge({
      name: 'ftpmasq_ready',
      help: "1 when /readyz answers 200 (running, not draining, every site's upstream reachable at the last check), else 0.",
      registers,
      // With workers (worker-pool.ts) the primary's /metrics merges every worker's: ready when all are.
      aggregator: 'min',
      // Read at scrape time, so the gauge is never staler than /readyz itself.
      collect: () => {
        this.ready.set(this.readinessProbe?.() === true ? 1 : 0);
      },
    });
    this.draining = new Gauge({
      name: 'ftpmasq_draining',
      help: '1 from the first SIGTERM/SIGINT until the process has stopped (listeners closed, running transfers finishing), else 0.',
      registers,
      aggregator: 'max',
    });
    this.configReloads = new Counter({
      name: 'ftpmasq_config_reloads_total',
      help: 'Configuration reloads (SIGHUP), by result: failure means an invalid file or a listener that could not be bound; the running configuration stays.',
      labelNames: ['result'],
      registers,
    });
    this.configInfo = new Gauge({
      name: 'ftpmasq_config_info',
      help: 'Always 1, labelled with the hash of the running configuration (the one /readyz and the ready log line name).',
      labelNames: ['hash'],
      registers,
      aggregator: 'max',
    });
    this.buildInfo = new Gauge({
      name: 'ftpmasq_build_info',
      help: 'Always 1, labelled with the ftpmasq version and the Node.js version of the running process.',
      labelNames: ['version', 'node'],
      registers,
      aggregator: 'max',
    });
    this.kernelNftProcesses = new Counter({
      name: 'ftpmasq_kernel_nft_processes_total',
      help: "nft processes that kernel mode started: run, one run of the start-up checks or the table's creation; session, the one long-lived nft that carries every transfer's kernel calls (its start, a restart, a fresh one after 5,000 requests). A transfer starts none.",
      labelNames: ['process'],
      registers,
    });
    this.kernelNftRestarts = new Counter({
      name: 'ftpmasq_kernel_nft_restarts_total',
      help: "Times kernel mode's long-lived nft was ended because it failed a request: timeout (no answer within 5 s; killed), exited (it died), overflow (a reply too large). That request failed; the next starts another nft, at most one a second.",
      labelNames: ['cause'],
      registers,
    });
    for (const process of NFT_PROCESSES) this.kernelNftProcesses.inc({ process }, 0);
    for (const cause of NFT_RESTART_REASONS) this.kernelNftRestarts.inc({ cause }, 0);
    const build = options.buildInfo ?? currentBuildInfo();
    this.buildInfo.set({ version: build.version, node: build.node }, 1);
    this.draining.set(0);
    for (const result of RELOAD_RESULTS) this.configReloads.inc({ result }, 0);
    if (options.defaultMetrics ?? true) {
      // 100 ms event-loop-delay sampling: the default 10 ms timer costs an idle proxy 0.35% of a core.
      collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX, eventLoopMonitoringPrecision: 100 });
      for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(`${METRIC_PREFIX}${name}`);
    }
  }

  /**
   * The metrics one site's sessions, pool and listeners update. The first call for a name creates
   * every series of the site at zero, so `rate()` and alerts see the site from its start.
   */
  forSite(name: string): SiteMetrics {
    const existing = this.sites.get(name);
    if (existing !== undefined) return existing;
    const site = { [SITE_LABEL]: name };
    // inc(0) creates a series without touching one that exists (a gauge of a site being re-added
    // while its old sessions drain keeps counting them).
    for (const [metricName, metric] of this.siteFamilies()) {
      for (const labels of labelCombinations(metricName, site)) {
        if (metric instanceof Histogram) metric.zero(labels);
        else metric.inc(labels, 0);
      }
    }
    const created = new SiteMetrics(this, name);
    this.sites.set(name, created);
    return created;
  }

  /** Drops every series of a site that is gone from the configuration and has no session left. */
  removeSite(name: string): void {
    if (!this.sites.delete(name)) return;
    const site = { [SITE_LABEL]: name };
    for (const [metricName, metric] of this.siteFamilies()) {
      for (const labels of labelCombinations(metricName, site)) metric.remove(labels);
    }
  }

  /** Every metric family with a `site` label: created at zero with a site, removed with it. */
  private siteFamilies(): ReadonlyArray<readonly [string, Counter<string> | Gauge<string> | Histogram<string>]> {
    return [
      ['ftpmasq_rewrites_total', this.rewrites],
      ['ftpmasq_sessions_active', this.sessionsActive],
      ['ftpmasq_sessions_total', this.sessionsTotal],
      ['ftpmasq_data_connections_total', this.dataConnections],
      ['ftpmasq_data_bytes_total', this.dataBytes],
      ['ftpmasq_tls_handshakes_total', this.tlsHandshakes],
      ['ftpmasq_tls_protocols_total', this.tlsProtocols],
      ['ftpmasq_passive_ports_in_use', this.passivePortsInUse],
      ['ftpmasq_passive_ports_capacity', this.passivePortsCapacity],
      ['ftpmasq_passive_port_sessions', this.passivePortSessions],
      ['ftpmasq_refusals_total', this.refusals],
      ['ftpmasq_upstream_errors_total', this.upstreamErrors],
      ['ftpmasq_upstream_unroutable_pasv_total', this.upstreamUnroutablePasv],
      ['ftpmasq_data_connection_setup_seconds', this.dataSetupSeconds],
      ['ftpmasq_upstream_up', this.upstreamUp],
      ['ftpmasq_public_address_lookup_failures_total', this.publicAddressLookupFailures],
      ['ftpmasq_routed_logins_total', this.routedLogins],
      ['ftpmasq_upstream_preconnects_total', this.upstreamPreconnects],
      ['ftpmasq_upstream_preconnected', this.upstreamPreconnected],
    ];
  }

  /** The sites that have series now, in the order they were created. */
  siteNames(): string[] {
    return [...this.sites.keys()];
  }

  /** What `ftpmasq_ready` reports at each scrape: the same answer /readyz gives. */
  setReadinessProbe(probe: () => boolean): void {
    this.readinessProbe = probe;
  }

  setDraining(draining: boolean): void {
    this.draining.set(draining ? 1 : 0);
  }

  /** What kernel mode's forwarder reports about its nft processes, counted. */
  kernelNftEvents(): { started(process: NftProcess): void; restarted(cause: NftRestartReason): void } {
    return { started: (process) => this.kernelNftProcesses.inc({ process }), restarted: (cause) => this.kernelNftRestarts.inc({ cause }) };
  }

  configReload(result: ReloadOutcome): void {
    this.configReloads.inc({ result });
  }

  /** `ftpmasq_config_info{hash}`: one series, the running configuration's. */
  setConfigHash(hash: string): void {
    if (this.configHash === hash) return;
    if (this.configHash !== undefined) this.configInfo.remove({ hash: this.configHash });
    this.configHash = hash;
    this.configInfo.set({ hash }, 1);
  }
}

export { SiteMetrics } from './site-metrics.js';
