import type net from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { LogLevel, SiteConfig } from '../config/types.js';
import { PassivePortPool, type PortLedger } from '../data/passive-port-pool.js';
import type { KernelForwarder } from '../kernel/kernel-forwarder.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics, SiteMetrics } from '../observability/metrics.js';
import { type Conn, connFromSocket } from '../net/conn.js';
import { acceptProxyHeader, withProxySettings } from './proxy-accept.js';
import { ControlSession, type SessionContext } from '../session/control-session.js';
import type { SessionRegistry } from '../session/session-registry.js';
import { type AdmissionDecision, type AdmissionRefusal, decideAccess, decideAdmission } from '../site/admission.js';
import type { SharedAdmission } from './admission-client.js';
import { isPublicAddressName, lookupIpv4, PublicAddress, type ResolveName } from './public-address.js';
import { forwardsInKernel } from '../site/site-policy.js';
import { UpstreamCheck } from './upstream-check.js';
import { UpstreamSpares } from './upstream-spares.js';

/** The log line of each refusal at accept time. */
const ADMISSION_LOG_LINES: Readonly<Record<AdmissionRefusal['reason'], string>> = {
  client_denied: 'client denied',
  session_limit: 'session limit reached',
  client_session_limit: 'client session limit reached',
  admission_unanswered: 'no admission verdict from the primary in time',
};

/** The last reply of a session the daemon closes: process drain, a removed site, stop. */
export const SHUTDOWN_REPLY = '421 Service shutting down.\r\n';

export interface SiteDependencies {
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Every pool of the process records its ports here, so overlapping ranges never collide. */
  readonly ledger: PortLedger;
  /** Process-wide: the diagnosis of a misconfigured upstream is logged once, not per session. */
  readonly diagnosis: { unroutablePasvWarned: boolean };
  /** Every live session of the daemon, for the live view: a session is in it from accept to close. */
  readonly registry: SessionRegistry;
  /** The process's nftables forwarder, given to the sessions of a kernel-mode site. */
  readonly kernel: KernelForwarder;
  /** A removed site's last session has ended: the daemon forgets it. */
  readonly onRetired: (site: Site) => void;
  /** How a `publicAddress` given as a DNS name is looked up; `dns.lookup` (IPv4) by default. */
  readonly resolveName?: ResolveName | undefined;
  /** A worker of `workers: N`: the session limits are counted by the primary for every worker. */
  readonly sharedAdmission?: SharedAdmission | undefined;
}

/**
 * One site at run time: the snapshot new sessions get (its SiteConfig and passive port pool), the
 * sessions it accepted (each keeping the snapshot it started with), its upstream check and its
 * metrics. Listening sockets are the daemon's: they hand accepted connections to `accept()`.
 */
export class Site {
  readonly name: string;
  readonly metrics: SiteMetrics;
  readonly logger: Logger;
  private context: SessionContext;
  /** Each session with the snapshot it started with. */
  private readonly sessions = new Map<ControlSession, SessionContext>();
  /** For maxSessionsPerClient: each session's client address, and the count per address. */
  private readonly sessionClients = new Map<ControlSession, string>();
  private readonly sessionsByClient = new Map<string, number>();
  /** The current pool and every older one a running session still uses. */
  private readonly pools = new Set<PassivePortPool>();
  private readonly upstreamCheck: UpstreamCheck;
  /** The lookups of a `publicAddress` given as a DNS name; undefined for an IP address or none. */
  private publicAddress: PublicAddress | undefined;
  /** `upstreamPreconnect`: made again when a retired site is revived. */
  private spares: UpstreamSpares;
  private retiring = false;
  /** Accepted, their PROXY header or admission verdict still awaited: stop() must not wait for either. */
  private readonly awaitingHeader = new Set<net.Socket>();

  constructor(
    config: SiteConfig,
    private readonly dependencies: SiteDependencies,
  ) {
    this.name = config.name;
    this.metrics = dependencies.metrics.forSite(config.name);
    this.logger = dependencies.logger.child({ site: config.name });
    this.publicAddress = this.makePublicAddress(config);
    this.spares = new UpstreamSpares(config, this.metrics, this.logger);
    this.context = this.snapshot(config, this.makePool(config));
    this.reportPorts();
    this.upstreamCheck = new UpstreamCheck(config, this.metrics);
    this.upstreamCheck.start();
  }

  get config(): SiteConfig {
    return this.context.site;
  }

  get isRetiring(): boolean {
    return this.retiring;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The readiness check's last answer. */
  get upstream(): { readonly reachable: boolean; readonly lastError: string } {
    return this.upstreamCheck;
  }

  /**
   * A connection accepted by one of the site's listeners. Admission (access lists, limits) reads
   * the current snapshot, so a reload applies to the next connection; a refused client gets 421
   * before any upstream connection. `implicitTls`: accepted by a `tlsListen` listener.
   */
  accept(socket: net.Socket, implicitTls = false): void {
    const context = this.context;
    const conn = withProxySettings(connFromSocket(socket), context.site);
    const proxyProtocol = context.site.proxyProtocol;
    if (proxyProtocol === undefined) return this.admit(socket, conn, context, implicitTls);
    this.awaitingHeader.add(socket);
    void acceptProxyHeader(socket, conn, proxyProtocol, this.metrics, this.logger).then((named) => {
      this.awaitingHeader.delete(socket);
      if (named !== undefined && !socket.destroyed) this.admit(socket, named, context, implicitTls);
    });
  }

  /** Admission (after the PROXY header, when the site reads one), then the session. */
  private admit(socket: net.Socket, conn: Conn, context: SessionContext, implicitTls: boolean): void {
    const client = conn.peer.host;
    const shared = this.dependencies.sharedAdmission;
    if (shared === undefined) {
      const facts = { clientAddress: client, sessions: this.sessions.size, sessionsFromClient: this.sessionsByClient.get(client) ?? 0 };
      this.open(socket, conn, context, implicitTls, decideAdmission(context.site, facts));
      return;
    }
    const access = decideAccess(context.site, client);
    if (access.kind === 'refuse') return this.open(socket, conn, context, implicitTls, access);
    this.awaitingHeader.add(socket);
    socket.on('error', ignoreError);
    void shared.claim(this.name, client, context.site).then((decision) => {
      this.awaitingHeader.delete(socket);
      socket.off('error', ignoreError);
      if (!socket.destroyed) return this.open(socket, conn, context, implicitTls, decision);
      // Gone while the primary decided (the client left, or stop()): no session will release it.
      if (decision.kind === 'admit') shared.release(this.name, client);
    });
  }

  private open(socket: net.Socket, conn: Conn, context: SessionContext, implicitTls: boolean, decision: AdmissionDecision): void {
    const client = conn.peer.host;
    if (decision.kind === 'refuse') {
      this.metrics.refuse(decision.reason);
      const via = conn.proxied === undefined ? {} : { via: conn.proxied.via.host };
      this.logger.warn({ client, ...via, ...(decision.limit === undefined ? {} : { limit: decision.limit }) }, ADMISSION_LOG_LINES[decision.reason]);
      socket.on('error', () => socket.destroy());
      socket.end(decision.reply);
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    const session = new ControlSession(conn, context, (closed) => this.onSessionClosed(closed), implicitTls);
    this.sessions.set(session, context);
    this.sessionClients.set(session, client);
    this.sessionsByClient.set(client, (this.sessionsByClient.get(client) ?? 0) + 1);
    this.dependencies.registry.add(session);
    void session.start();
  }

  /**
   * A reload changed this site: sessions from now on get `next`. Running sessions keep their
   * snapshot. A new passive range gets a new pool; the old one serves its sessions until the last ends.
   */
  apply(next: SiteConfig): void {
    const previous = this.context.site;
    const samePorts = isDeepStrictEqual(next.passivePorts, previous.passivePorts) && next.passivePortSharing === previous.passivePortSharing;
    const pool = samePorts ? this.context.pool : this.makePool(next);
    const lookups = this.publicAddress;
    if (lookups === undefined || next.publicAddress !== lookups.name || next.publicAddressRefreshMs !== lookups.refreshMs) {
      this.publicAddress?.stop();
      this.publicAddress = this.makePublicAddress(next);
    }
    this.spares.apply(next);
    this.context = this.snapshot(next, pool);
    this.dropUnusedPools();
    this.reportPorts();
    if (!isDeepStrictEqual(next.upstream, previous.upstream) || next.upstreamConnectTimeoutMs !== previous.upstreamConnectTimeoutMs) {
      this.upstreamCheck.retarget(next);
    }
  }

  /** A site a reload removed and a later reload adds again before its last session ended. */
  revive(next: SiteConfig): void {
    this.retiring = false;
    // Stopped by retire(): made again by apply().
    this.publicAddress = undefined;
    this.spares = new UpstreamSpares(next, this.metrics, this.logger);
    this.apply(next);
    this.upstreamCheck.start();
  }

  setLogLevel(level: LogLevel): void {
    this.logger.level = level;
  }

  /**
   * Removed by a reload: the daemon has already closed or handed over its listeners. Every
   * session is drained (per site, as the process drain does) within `drainTimeoutMs`.
   */
  retire(drainTimeoutMs: number): void {
    this.retiring = true;
    this.stopChecking();
    const sessions = this.sessions.size;
    this.logger.info({ sessions, drainTimeoutMs }, 'site removed, draining its sessions');
    if (sessions === 0) {
      queueMicrotask(() => this.finishRetirement());
      return;
    }
    void this.drainSessions(drainTimeoutMs, 'site removed').then(({ cut }) => {
      if (cut > 0) this.logger.warn({ cut, drainTimeoutMs }, 'drain timeout of a removed site: sessions with a transfer in flight closed');
    });
  }

  /**
   * Tells every session to finish what is in flight and take no new command; each is closed with
   * 421 as soon as it is idle. When `timeoutMs` runs out first, the rest are closed too, and
   * `cut` says how many were closed busy (a transfer or a command still running).
   */
  async drainSessions(timeoutMs: number, reason: string): Promise<{ cut: number; timedOut: boolean }> {
    const sessions = [...this.sessions.keys()];
    const idle = sessions.map((session) => {
      session.beginDrain();
      return session.whenIdle().then(() => session.close(reason, SHUTDOWN_REPLY));
    });
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const timedOut = await Promise.race([Promise.all(idle).then(() => false), expired]);
    clearTimeout(timer);
    if (!timedOut) return { cut: 0, timedOut };
    const busy = sessions.filter((session) => !session.isClosed);
    for (const session of busy) session.close(`${reason}: drain timeout`, SHUTDOWN_REPLY);
    return { cut: busy.length, timedOut };
  }

  /** Stops checking the upstream (drain, stop). */
  stopChecking(): void {
    this.upstreamCheck.stop();
    this.publicAddress?.stop();
    this.spares.close();
  }

  /** Closes every session at once with 421 (stop). */
  closeAll(reason: string): void {
    this.stopChecking();
    for (const socket of this.awaitingHeader) socket.destroy();
    for (const session of [...this.sessions.keys()]) session.close(reason, SHUTDOWN_REPLY);
  }

  private snapshot(config: SiteConfig, pool: PassivePortPool): SessionContext {
    const resolved = this.publicAddress;
    const publicAddress = resolved === undefined ? undefined : () => resolved.current;
    const kernel = forwardsInKernel(config) ? this.dependencies.kernel : undefined;
    return { site: config, pool, metrics: this.metrics, logger: this.logger, diagnosis: this.dependencies.diagnosis, publicAddress, kernel, spares: this.spares };
  }

  private makePublicAddress(config: SiteConfig): PublicAddress | undefined {
    if (!isPublicAddressName(config.publicAddress)) return undefined;
    const resolve = this.dependencies.resolveName ?? lookupIpv4;
    return new PublicAddress(config.publicAddress, config.publicAddressRefreshMs, resolve, this.metrics, this.logger);
  }

  private makePool(config: SiteConfig): PassivePortPool {
    const pool = new PassivePortPool(config.passivePorts, {
      ledger: this.dependencies.ledger,
      onChange: () => this.reportPorts(),
      sharing: config.passivePortSharing ?? false,
    });
    this.pools.add(pool);
    return pool;
  }

  /** In use: every pool of the site, an old range included; capacity: the current range. */
  private reportPorts(): void {
    let inUse = 0;
    let sessions = 0;
    for (const pool of this.pools) {
      inUse += pool.inUse;
      sessions += pool.sessionsHolding;
    }
    this.metrics.passivePorts(inUse, this.context.pool.capacity, sessions);
  }

  private dropUnusedPools(): void {
    const used = new Set([this.context.pool, ...[...this.sessions.values()].map((context) => context.pool)]);
    for (const pool of this.pools) if (!used.has(pool)) this.pools.delete(pool);
  }

  private onSessionClosed(session: ControlSession): void {
    const context = this.sessions.get(session);
    this.sessions.delete(session);
    this.dependencies.registry.remove(session);
    this.forgetClient(session);
    if (context !== undefined && context.pool !== this.context.pool) {
      this.dropUnusedPools();
      this.reportPorts();
    }
    if (this.retiring && this.sessions.size === 0) this.finishRetirement();
  }

  private forgetClient(session: ControlSession): void {
    const client = this.sessionClients.get(session);
    if (client === undefined) return;
    this.sessionClients.delete(session);
    this.dependencies.sharedAdmission?.release(this.name, client);
    const remaining = (this.sessionsByClient.get(client) ?? 1) - 1;
    if (remaining > 0) this.sessionsByClient.set(client, remaining);
    else this.sessionsByClient.delete(client);
  }

  private finishRetirement(): void {
    if (!this.retiring || this.sessions.size > 0) return;
    this.logger.info('site drained');
    this.dependencies.onRetired(this);
  }
}

/** A reset while the admission verdict is awaited: the socket is found destroyed afterwards. */
function ignoreError(): void {}
