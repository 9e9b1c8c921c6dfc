/**
 * Every Prometheus metric ftpmasq exports, on an injectable registry so tests get a fresh one.
 * Label values are closed sets (no client addresses, no file names), and every series of a closed
 * set exists from the start at zero, so `rate()` and `absent()` behave before the first event.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

export const REWRITE_KINDS = ['pasv', 'epsv', 'port', 'eprt'] as const;
export const DATA_MODES = ['passive', 'active'] as const;
export const DIRECTIONS = ['to_client', 'to_server'] as const;
export const REFUSAL_REASONS = [
  'foreign_data_peer',
  'bounce_foreign_host',
  'bounce_privileged_port',
  'line_too_long',
  'session_limit',
  'passive_ports_exhausted',
  'auth_tls',
  'epsv_disabled',
  'active_disabled',
  'not_supported',
  'after_epsv_all',
  'ipv6_pasv',
  'bad_argument',
  'login_timeout',
  'idle_timeout',
  'data_stall',
] as const;
export const UPSTREAM_STAGES = ['connect', 'control', 'data_connect', 'bad_reply', 'greeting_timeout'] as const;

export type RewriteKind = (typeof REWRITE_KINDS)[number];
export type DataMode = (typeof DATA_MODES)[number];
export type Direction = (typeof DIRECTIONS)[number];
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
export type UpstreamStage = (typeof UPSTREAM_STAGES)[number];

/** The closed label sets, by metric and label: the one description used to zero-initialise and to test. */
export const LABEL_VALUES: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  ftpmasq_rewrites_total: { kind: REWRITE_KINDS },
  ftpmasq_data_connections_total: { mode: DATA_MODES },
  ftpmasq_data_bytes_total: { direction: DIRECTIONS },
  ftpmasq_refusals_total: { reason: REFUSAL_REASONS },
  ftpmasq_upstream_errors_total: { stage: UPSTREAM_STAGES },
};

/** Whether a metric is one of prom-client's defaults rather than ftpmasq's own. */
export function isDefaultMetric(name: string): boolean {
  return DEFAULT_METRIC_PREFIXES.some((prefix) => name.startsWith(prefix));
}

export class Metrics {
  readonly registry: Registry;
  readonly rewrites: Counter<'kind'>;
  readonly sessionsActive: Gauge;
  readonly sessionsTotal: Counter;
  readonly dataConnections: Counter<'mode'>;
  readonly dataBytes: Counter<'direction'>;
  readonly passivePortsInUse: Gauge;
  readonly passivePortsCapacity: Gauge;
  readonly refusals: Counter<'reason'>;
  readonly upstreamErrors: Counter<'stage'>;
  readonly upstreamUnroutablePasv: Counter;
  readonly dataSetupSeconds: Histogram;
  readonly ready: Gauge;
  private readinessProbe: (() => boolean) | undefined;

  constructor(options: { registry?: Registry; defaultMetrics?: boolean } = {}) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    const registers = [registry];
    this.rewrites = new Counter({
      name: 'ftpmasq_rewrites_total',
      help: 'Replies or commands whose data address or port ftpmasq changed, by kind.',
      labelNames: ['kind'],
      registers,
    });
    this.sessionsActive = new Gauge({
      name: 'ftpmasq_sessions_active',
      help: 'Client control sessions open now.',
      registers,
    });
    this.sessionsTotal = new Counter({
      name: 'ftpmasq_sessions_total',
      help: 'Client control sessions accepted since start.',
      registers,
    });
    this.dataConnections = new Counter({
      name: 'ftpmasq_data_connections_total',
      help: 'Data connections relayed (both ends connected), by mode.',
      labelNames: ['mode'],
      registers,
    });
    this.dataBytes = new Counter({
      name: 'ftpmasq_data_bytes_total',
      help: 'Data connection bytes relayed, counted when each data connection closes, by direction.',
      labelNames: ['direction'],
      registers,
    });
    this.passivePortsInUse = new Gauge({
      name: 'ftpmasq_passive_ports_in_use',
      help: "Ports of ftpmasq's passive range held now (listening or relaying).",
      registers,
    });
    this.passivePortsCapacity = new Gauge({
      name: 'ftpmasq_passive_ports_capacity',
      help: "Size of ftpmasq's passive port range.",
      registers,
    });
    this.refusals = new Counter({
      name: 'ftpmasq_refusals_total',
      help: 'Commands or connections ftpmasq refused, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: 'ftpmasq_upstream_errors_total',
      help: 'Failures talking to the upstream server, by stage.',
      labelNames: ['stage'],
      registers,
    });
    this.upstreamUnroutablePasv = new Counter({
      name: 'ftpmasq_upstream_unroutable_pasv_total',
      help: 'Upstream 227 replies that named an address the client cannot reach or that is not the upstream itself.',
      registers,
    });
    this.dataSetupSeconds = new Histogram({
      name: 'ftpmasq_data_connection_setup_seconds',
      help: 'Time from the first data connection arriving (or the transfer command, in active mode) until both ends are connected.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.ready = new Gauge({
      name: 'ftpmasq_ready',
      help: '1 when /readyz answers 200 (listeners up, upstream reachable at the last check), else 0.',
      registers,
      // Read at scrape time, so the gauge is never staler than /readyz itself.
      collect: () => {
        this.ready.set(this.readinessProbe?.() === true ? 1 : 0);
      },
    });
    // Zero every known label so dashboards and rate() see the series from the start.
    for (const kind of REWRITE_KINDS) this.rewrites.inc({ kind }, 0);
    for (const mode of DATA_MODES) this.dataConnections.inc({ mode }, 0);
    for (const direction of DIRECTIONS) this.dataBytes.inc({ direction }, 0);
    for (const reason of REFUSAL_REASONS) this.refusals.inc({ reason }, 0);
    for (const stage of UPSTREAM_STAGES) this.upstreamErrors.inc({ stage }, 0);
    if (options.defaultMetrics ?? true) {
      // 100 ms event-loop-delay sampling: the default 10 ms timer costs an idle proxy 0.35% of a core.
      collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX, eventLoopMonitoringPrecision: 100 });
      for (const name of DROPPED_DEFAULT_METRICS) registry.removeSingleMetric(`${METRIC_PREFIX}${name}`);
    }
  }

  rewrite(kind: RewriteKind): void {
    this.rewrites.inc({ kind });
  }

  refuse(reason: RefusalReason): void {
    this.refusals.inc({ reason });
  }

  upstreamError(stage: UpstreamStage): void {
    this.upstreamErrors.inc({ stage });
  }

  /** The metrics one site's sessions, pool and listeners update. */
  forSite(name: string): SiteMetrics {
    return new SiteMetrics(this, name);
  }

  /** What `ftpmasq_ready` reports at each scrape: the same answer /readyz gives. */
  setReadinessProbe(probe: () => boolean): void {
    this.readinessProbe = probe;
  }
}

/**
 * One site's view of the metrics: what sessions, the passive port pool and the listeners of a site
 * record. Sessions see only this, never the registry, so the label a series carries is decided here.
 */
export class SiteMetrics {
  constructor(
    private readonly metrics: Metrics,
    readonly site: string,
  ) {}

  sessionStarted(): void {
    this.metrics.sessionsTotal.inc();
    this.metrics.sessionsActive.inc();
  }

  sessionEnded(): void {
    this.metrics.sessionsActive.dec();
  }

  rewrite(kind: RewriteKind): void {
    this.metrics.rewrite(kind);
  }

  refuse(reason: RefusalReason): void {
    this.metrics.refuse(reason);
  }

  upstreamError(stage: UpstreamStage): void {
    this.metrics.upstreamError(stage);
  }

  upstreamUnroutablePasv(): void {
    this.metrics.upstreamUnroutablePasv.inc();
  }

  dataConnection(mode: DataMode, setupSeconds: number): void {
    this.metrics.dataSetupSeconds.observe(setupSeconds);
    this.metrics.dataConnections.inc({ mode });
  }

  dataBytes(direction: Direction, bytes: number): void {
    this.metrics.dataBytes.inc({ direction }, bytes);
  }

  passivePorts(inUse: number, capacity: number): void {
    this.metrics.passivePortsInUse.set(inUse);
    this.metrics.passivePortsCapacity.set(capacity);
  }
}
