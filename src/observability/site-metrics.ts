/**
 * One site's view of the metrics: what sessions, the passive port pool and the listeners of a site
 * record. Sessions see only this, never the registry, so the `site` label is put on here.
 */
import type { Metrics } from './metrics.js';
import {
  TLS_PROTOCOLS,
  type DataMode,
  type PreconnectOutcome,
  type Direction,
  type RefusalReason,
  type RewriteKind,
  type RoutedVia,
  type TlsResult,
  type TlsSide,
  type UpstreamStage,
} from './metric-labels.js';

const SITE_LABEL = 'site';
type Site = typeof SITE_LABEL;

export class SiteMetrics {
  private readonly labels: Readonly<Record<Site, string>>;

  constructor(
    private readonly metrics: Metrics,
    readonly site: string,
  ) {
    this.labels = { [SITE_LABEL]: site };
  }

  sessionStarted(): void {
    this.metrics.sessionsTotal.inc(this.labels);
    this.metrics.sessionsActive.inc(this.labels);
  }

  sessionEnded(): void {
    this.metrics.sessionsActive.dec(this.labels);
  }

  rewrite(kind: RewriteKind): void {
    this.metrics.rewrites.inc({ ...this.labels, kind });
  }

  refuse(reason: RefusalReason): void {
    this.metrics.refusals.inc({ ...this.labels, reason });
  }

  upstreamError(stage: UpstreamStage): void {
    this.metrics.upstreamErrors.inc({ ...this.labels, stage });
  }

  upstreamUnroutablePasv(): void {
    this.metrics.upstreamUnroutablePasv.inc(this.labels);
  }

  dataConnection(mode: DataMode, setupSeconds: number): void {
    this.metrics.dataSetupSeconds.observe(this.labels, setupSeconds);
    this.metrics.dataConnections.inc({ ...this.labels, mode });
  }

  /** A TLS handshake ftpmasq served; `protocol` as Node names it (`TLSv1.3`) on success. */
  tlsHandshake(side: TlsSide, result: TlsResult, protocol?: string): void {
    this.metrics.tlsHandshakes.inc({ ...this.labels, side, result });
    const version = TLS_PROTOCOLS.find((known) => known === protocol?.toLowerCase().replace('tlsv', 'tls').replace('.', '_'));
    if (version !== undefined) this.metrics.tlsProtocols.inc({ ...this.labels, side, protocol: version });
  }

  dataBytes(direction: Direction, bytes: number): void {
    this.metrics.dataBytes.inc({ ...this.labels, direction }, bytes);
  }

  /** `sessions`: the sessions holding those ports; more than `inUse` only where ports are shared. */
  passivePorts(inUse: number, capacity: number, sessions = inUse): void {
    this.metrics.passivePortsInUse.set(this.labels, inUse);
    this.metrics.passivePortsCapacity.set(this.labels, capacity);
    this.metrics.passivePortSessions.set(this.labels, sessions);
  }

  /** A login on a site with routes was sent to an upstream. */
  routedLogin(via: RoutedVia): void {
    this.metrics.routedLogins.inc({ ...this.labels, via });
  }

  /** A lookup of a publicAddress given as a DNS name failed (the last good address stays). */
  publicAddressLookupFailed(): void {
    this.metrics.publicAddressLookupFailures.inc(this.labels);
  }

  /** A preconnected upstream connection was used or closed; `waiting`: how many wait now. */
  preconnect(outcome: PreconnectOutcome | undefined, waiting: number): void {
    if (outcome !== undefined) this.metrics.upstreamPreconnects.inc({ ...this.labels, outcome });
    this.metrics.upstreamPreconnected.set(this.labels, waiting);
  }

  upstreamReachable(reachable: boolean): void {
    this.metrics.upstreamUp.set(this.labels, reachable ? 1 : 0);
  }
}
