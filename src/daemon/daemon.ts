/**
 * The daemon: every site of one configuration in one process, with a lifecycle.
 *
 *   running  -> reload() applies a new configuration as a transaction; drain() or stop() end it
 *   draining -> listeners closed, /readyz 503, sessions finish what is in flight (bounded)
 *   stopped  -> every socket and port released
 *
 * A reload follows OpenBSD ftp-proxy's prepare/commit/rollback: the plan is decided first (pure,
 * reload-plan.ts), then every new listening socket (and a moved metrics listener) is bound; only
 * when all binds succeeded is anything changed, and that commit cannot fail. A failed bind closes
 * what the reload bound and leaves the running configuration as it was.
 */
import type net from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { DaemonConfig } from '../config/types.js';
import { ConfigError, type Endpoint } from '../config/values.js';
import { PortLedger } from '../data/passive-port-pool.js';
import { KernelForwarder } from '../kernel/kernel-forwarder.js';
import type { Logger } from '../observability/logger.js';
import { type RunningHttpServer, startHttpServer } from '../observability/http-server.js';
import { LiveView } from '../observability/live-view.js';
import { Metrics } from '../observability/metrics.js';
import { SessionRegistry } from '../session/session-registry.js';
import { forwardsInKernel } from '../site/site-policy.js';
import { hashConfig } from './config-hash.js';
import { type ControlListener, ListenError, type ListenerHandlers, bindListener, closeServer } from './listeners.js';
import { type ReloadPlan, formatEndpoint, planReload } from './reload-plan.js';
import type { DaemonState, DrainResult, ReloadResult, RunningDaemon, StartOptions } from './daemon-api.js';
import { Site, type SiteDependencies } from './site.js';

export type { DaemonState, DrainResult, ReloadResult, RunningDaemon, StartOptions } from './daemon-api.js';

/** Binds every site of `config`; if any bind fails, releases what was bound and throws ListenError. */
export async function start(config: DaemonConfig, options: StartOptions): Promise<RunningDaemon> {
  const daemon = new Daemon(options.logger, options.metrics ?? new Metrics(), options);
  await daemon.open(config, options.configHash ?? hashConfig(config));
  return daemon;
}

/** What the prepare step bound, for commit or rollback. */
interface Prepared {
  readonly listeners: readonly ControlListener[];
  /** `keep`: the metrics listener stays as it is. */
  readonly http: RunningHttpServer | undefined | 'keep';
}

const EMPTY_CONFIG: DaemonConfig = { logLevel: 'info', metricsListen: undefined, drainTimeoutMs: 0, sites: [] };

class Daemon implements RunningDaemon {
  state: DaemonState = 'running';
  config: DaemonConfig = EMPTY_CONFIG;
  configHash = '';
  /** Sites of the running configuration, and removed ones whose sessions still drain. */
  private readonly sites = new Map<string, Site>();
  /** Every listening control socket by its key (see ListenerSpec), in configuration order. */
  private listeners = new Map<string, ControlListener>();
  private http: RunningHttpServer | undefined;
  private readonly ledger = new PortLedger();
  private readonly registry = new SessionRegistry();
  readonly liveView = new LiveView(this.registry);
  private readonly diagnosis = { unroutablePasvWarned: false };
  private reloading: Promise<unknown> = Promise.resolve();
  private draining: Promise<DrainResult> | undefined;
  private stopping: Promise<void> | undefined;
  /** Sessions still open when stop() cut a drain short. */
  private forcedCut: number | undefined;

  /** Kernel mode's nftables table: started by the first configuration with a kernel-mode site, deleted at stop. */
  private readonly kernel: KernelForwarder;

  constructor(
    private readonly logger: Logger,
    readonly metrics: Metrics,
    private readonly options: Pick<StartOptions, 'resolveName' | 'sharedAdmission'>,
  ) {
    this.kernel = new KernelForwarder(logger, { events: metrics.kernelNftEvents() });
  }

  get addresses(): readonly Endpoint[] {
    return [...this.listeners.values()].map((listener) => listener.address);
  }

  get siteAddresses(): ReadonlyMap<string, readonly Endpoint[]> {
    const bySite = new Map<string, Endpoint[]>(this.config.sites.map((site) => [site.name, []]));
    for (const listener of this.listeners.values()) bySite.get(listener.site)?.push(listener.address);
    return bySite;
  }

  get metricsAddress(): Endpoint | undefined {
    return this.http?.address;
  }

  sessionCount(): number {
    let count = 0;
    for (const site of this.sites.values()) count += site.sessionCount;
    return count;
  }

  async open(config: DaemonConfig, hash: string): Promise<void> {
    const planned = planReload([], config.sites);
    if (!planned.ok) throw new ConfigError('sites', 'distinct site names and listen addresses', planned.reason);
    const prepared = await this.prepare(planned.plan, config);
    this.commit(planned.plan, config, hash, prepared);
  }

  reload(next: DaemonConfig, hash = hashConfig(next)): Promise<ReloadResult> {
    // One reload at a time: a SIGHUP during a reload is applied after it, against its result.
    const run = this.reloading.then(() => this.reloadNow(next, hash));
    this.reloading = run.catch(() => undefined);
    return run;
  }

  rejectReload(error: string): ReloadResult {
    this.metrics.configReload('failure');
    this.logger.error({ err: error, config: this.configHash }, 'config reload failed, the running configuration stays');
    return { ok: false, hash: this.configHash, error };
  }

  drain(timeoutMs = this.config.drainTimeoutMs): Promise<DrainResult> {
    if (this.state === 'stopped') return Promise.resolve({ cut: 0, timedOut: false, forced: this.forcedCut !== undefined });
    this.draining ??= this.drainNow(timeoutMs);
    return this.draining;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      if (this.state === 'draining') this.forcedCut = this.sessionCount();
      this.state = 'stopped';
      for (const site of this.sites.values()) site.closeAll('shutdown');
      const closing = [...this.listeners.values()].map((listener) => closeServer(listener.server));
      if (this.http !== undefined) closing.push(this.http.close());
      await Promise.all(closing);
      await this.kernel.stop();
      this.metrics.setDraining(false);
    })();
    return this.stopping;
  }

  // ---- reload ----------------------------------------------------------------------------------

  private async reloadNow(next: DaemonConfig, hash: string): Promise<ReloadResult> {
    if (this.state !== 'running') {
      this.logger.warn({ state: this.state }, 'config reload refused: the daemon is not running');
      return { ok: false, hash: this.configHash, error: `the daemon is ${this.state}` };
    }
    const planned = planReload(this.config.sites, next.sites);
    if (!planned.ok) return this.rejectReload(planned.reason);
    let prepared: Prepared;
    try {
      prepared = await this.prepare(planned.plan, next);
    } catch (error) {
      return this.rejectReload(error instanceof Error ? error.message : String(error));
    }
    if (this.state !== 'running') {
      // A drain began while the new listeners were being bound: they are not needed any more.
      await this.rollback(prepared);
      return { ok: false, hash: this.configHash, error: `the daemon is ${this.state}` };
    }
    const previousHash = this.configHash;
    const { plan } = planned;
    this.commit(plan, next, hash, prepared);
    this.metrics.configReload('success');
    this.logger.info(
      {
        config: hash,
        previous: previousHash,
        added: plan.added,
        removed: plan.removed,
        changed: plan.changed.map((change) => `${change.name} (${change.keys.join(', ')})`),
        unchanged: plan.unchanged,
      },
      'config reloaded',
    );
    return { ok: true, hash, previousHash, added: plan.added, removed: plan.removed, changed: plan.changed, unchanged: plan.unchanged };
  }

  /** Binds every listener the plan needs and, when it moved, the metrics listener. Nothing else changes. */
  private async prepare(plan: ReloadPlan, next: DaemonConfig): Promise<Prepared> {
    // Its checks fail before any listener is bound, with their own error (KernelSetupError).
    if (next.sites.some(forwardsInKernel)) await this.kernel.start();
    const listeners: ControlListener[] = [];
    try {
      for (const spec of plan.bind) listeners.push(await bindListener(spec, this.listenerHandlers));
      if (this.http !== undefined && isDeepStrictEqual(next.metricsListen, this.config.metricsListen)) return { listeners, http: 'keep' };
      if (next.metricsListen === undefined) return { listeners, http: undefined };
      return { listeners, http: await this.bindHttp(next.metricsListen) };
    } catch (error) {
      await this.rollback({ listeners, http: 'keep' });
      throw error;
    }
  }

  private async bindHttp(endpoint: Endpoint): Promise<RunningHttpServer> {
    try {
      return await startHttpServer(endpoint, this.metrics, { ready: () => this.readiness() }, this.liveView);
    } catch (error) {
      const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'EUNKNOWN';
      throw new ListenError(endpoint, code, `cannot listen on ${formatEndpoint(endpoint)} (--metrics-listen): ${String(error)}`);
    }
  }

  private async rollback(prepared: Prepared): Promise<void> {
    const closing = prepared.listeners.map((listener) => {
      for (const socket of listener.waiting.splice(0)) socket.destroy();
      return closeServer(listener.server);
    });
    if (prepared.http !== 'keep' && prepared.http !== undefined) closing.push(prepared.http.close());
    await Promise.all(closing);
  }

  /** Applies a prepared plan. Synchronous and without failure, so it is never half done. */
  private commit(plan: ReloadPlan, next: DaemonConfig, hash: string, prepared: Prepared): void {
    for (const config of next.sites) {
      const site = this.sites.get(config.name);
      if (site === undefined) {
        this.sites.set(config.name, new Site(config, this.siteDependencies()));
      } else if (site.isRetiring) {
        site.revive(config);
      } else if (!isDeepStrictEqual(site.config, config)) {
        site.apply(config);
      }
    }
    const listeners = new Map<string, ControlListener>();
    const bound = new Map(prepared.listeners.map((listener) => [listener.spec.key, listener]));
    for (const spec of plan.listeners) {
      const listener = this.listeners.get(spec.key) ?? bound.get(spec.key);
      if (listener === undefined) continue;
      listener.site = spec.site;
      listeners.set(spec.key, listener);
    }
    for (const key of plan.close) {
      const listener = this.listeners.get(key);
      // Stops accepting now; its sessions go on (closeServer resolves only when they have ended).
      if (listener !== undefined) void closeServer(listener.server);
    }
    this.listeners = listeners;
    for (const listener of prepared.listeners) {
      for (const socket of listener.waiting.splice(0)) this.onConnection(listener, socket);
      listener.committed = true;
    }
    for (const name of plan.removed) this.sites.get(name)?.retire(next.drainTimeoutMs);
    if (prepared.http !== 'keep') {
      void this.http?.close();
      this.http = prepared.http;
    }
    // At start the caller's logger keeps the level it was made with (the demo's is silent whatever
    // the configuration says); a reload that changes logLevel applies it.
    if (this.config !== EMPTY_CONFIG && next.logLevel !== this.config.logLevel) {
      this.logger.level = next.logLevel;
      for (const site of this.sites.values()) site.setLogLevel(next.logLevel);
    }
    this.config = next;
    this.configHash = hash;
    this.metrics.setConfigHash(hash);
  }

  private siteDependencies(): SiteDependencies {
    return {
      metrics: this.metrics,
      logger: this.logger,
      ledger: this.ledger,
      registry: this.registry,
      diagnosis: this.diagnosis,
      resolveName: this.options.resolveName,
      sharedAdmission: this.options.sharedAdmission,
      kernel: this.kernel,
      onRetired: (site) => {
        if (this.sites.get(site.name) !== site || !site.isRetiring) return;
        this.sites.delete(site.name);
        this.metrics.removeSite(site.name);
      },
    };
  }

  private readonly listenerHandlers: ListenerHandlers = {
    onConnection: (listener, socket) => this.onConnection(listener, socket),
    onError: (listener, error) =>
      this.logger.error({ err: error.message, listen: formatEndpoint(listener.address), site: listener.site }, 'control listener error'),
  };

  private onConnection(listener: ControlListener, socket: net.Socket): void {
    if (!listener.committed) {
      // Bound by a reload that is not committed yet: the connection waits for the outcome.
      socket.on('error', () => socket.destroy());
      listener.waiting.push(socket);
      return;
    }
    const site = this.sites.get(listener.site);
    if (this.state !== 'running' || site === undefined || site.isRetiring) {
      socket.destroy();
      return;
    }
    site.accept(socket, listener.spec.implicitTls === true);
  }

  // ---- drain and readiness ---------------------------------------------------------------------

  private async drainNow(timeoutMs: number): Promise<DrainResult> {
    this.state = 'draining';
    this.metrics.setDraining(true);
    const startedAt = Date.now();
    this.logger.info({ sessions: this.sessionCount(), drainTimeoutMs: timeoutMs, config: this.configHash }, 'draining');
    // New connections are refused from now on; accepted ones go on.
    for (const listener of this.listeners.values()) void closeServer(listener.server);
    for (const site of this.sites.values()) site.stopChecking();
    const outcomes = await Promise.all([...this.sites.values()].map((site) => site.drainSessions(timeoutMs, 'shutdown')));
    const forced = this.forcedCut !== undefined;
    const cut = forced ? (this.forcedCut ?? 0) : outcomes.reduce((sum, outcome) => sum + outcome.cut, 0);
    const timedOut = !forced && outcomes.some((outcome) => outcome.timedOut);
    await this.stop();
    const durationMs = Date.now() - startedAt;
    if (cut > 0 && forced) {
      this.logger.warn({ cut, drainTimeoutMs: timeoutMs, durationMs }, 'stopped before the drain ended: sessions with a transfer in flight closed');
    } else if (cut > 0) {
      this.logger.warn({ cut, drainTimeoutMs: timeoutMs, durationMs }, 'drain timeout: sessions with a transfer in flight closed');
    }
    this.logger.info({ durationMs }, 'drained');
    return { cut, timedOut, forced };
  }

  /** /readyz and `ftpmasq_ready`: running, and every site's upstream answered its last check. */
  readiness(): { ready: boolean; detail: string } {
    const config = `config: ${this.configHash}`;
    if (this.state !== 'running') return { ready: false, detail: `${this.state}\n${config}` };
    const failing = [...this.sites.values()].filter((site) => !site.isRetiring && !site.upstream.reachable);
    if (failing.length > 0) {
      const lines = failing.map((site) => `upstream unreachable: ${site.upstream.lastError} (site ${site.name})`);
      return { ready: false, detail: `${lines.join('\n')}\n${config}` };
    }
    return { ready: true, detail: `ready\n${config}` };
  }
}
