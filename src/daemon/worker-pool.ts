/**
 * The primary of `workers: N` (docs/DESIGN.md, "Workers"). It owns nothing but the workers, the
 * metrics listener and the signals. Each worker runs the whole daemon for every site with its own
 * slice of every passive range (worker-config.ts). Control listeners are shared through
 * node:cluster's round robin: the primary accepts and hands each connection to the next worker,
 * which spreads sessions evenly where the kernel's choice among processes would not. Passive
 * listeners are bound `exclusive` (passive-port-pool.ts), so each stays in its worker.
 */
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { type Endpoint, formatEndpoint } from '../config/values.js';
import type { Logger } from '../observability/logger.js';
import { type RunningHttpServer, startHttpServer } from '../observability/http-server.js';
import { AdmissionCounter, answerAdmission } from './admission-counter.js';
import { WorkerLiveView } from './worker-live-view.js';
import { HANDLED_SIGNALS, type HandledSignal, type SignalSource } from './supervisor.js';
import { type HealthMessage, type SignalMessage, WORKER_COUNT_ENV, WORKER_INDEX_ENV, parseHealthMessage } from './worker-messages.js';

/** A worker that dies is replaced, but never sooner than this after its last start. */
const MIN_RESTART_INTERVAL_MS = 1000;
/** A worker whose health report is older than this is not ready. */
const HEALTH_STALE_MS = 5000;

export interface WorkerPoolOptions {
  readonly count: number;
  /** For the start-up line: the cores and, when fewer workers, why (describeWorkers). */
  readonly described?: { readonly cores: number; readonly workersLimitedBy?: string };
  readonly logger: Logger;
  readonly metricsListen: Endpoint | undefined;
  readonly signals: SignalSource;
  /** SIGHUP: reads and validates the configuration; throws for an invalid one. */
  readonly validateReload: () => unknown;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  startedAt: number;
  health: (HealthMessage & { readonly at: number }) | undefined;
  restart: NodeJS.Timeout | undefined;
}

export type PoolOutcome = { readonly kind: 'stopped' } | { readonly kind: 'failed-start'; readonly exitCode: number };

export class WorkerPool {
  private readonly slots: Slot[];
  private state: 'starting' | 'running' | 'draining' = 'starting';
  private stopSignals = 0;
  /** The last stop signal forwarded, for a worker that starts listening only after it. */
  private stopSignal: HandledSignal | undefined;
  private http: RunningHttpServer | undefined;
  private readonly aggregator = new AggregatorRegistry();
  /** maxSessions and maxSessionsPerClient, counted here for every worker. */
  private readonly admission = new AdmissionCounter();
  /** /sessions and /: every worker's sessions, asked for at each request. */
  private readonly liveView = new WorkerLiveView(() =>
    this.slots.map((slot) => ({
      index: slot.index,
      pid: slot.worker?.process.pid,
      send: (message) => slot.worker !== undefined && slot.worker.isConnected() && slot.worker.send(message),
    })),
  );
  private resolveDone: ((outcome: PoolOutcome) => void) | undefined;
  private readonly done = new Promise<PoolOutcome>((resolve) => (this.resolveDone = resolve));
  private readonly onSignal = (signal: NodeJS.Signals): void => this.handle(signal);

  constructor(private readonly options: WorkerPoolOptions) {
    this.slots = Array.from({ length: options.count }, (_, index) => ({ index, worker: undefined, startedAt: 0, health: undefined, restart: undefined }));
    for (const signal of HANDLED_SIGNALS) options.signals.on(signal, this.onSignal);
  }

  get metricsAddress(): Endpoint | undefined {
    return this.http?.address;
  }

  /** Forks every worker and binds the metrics listener; resolves when all have stopped. */
  async run(): Promise<PoolOutcome> {
    cluster.schedulingPolicy = cluster.SCHED_RR;
    // The others once it is ready: a configuration that cannot start (a control port taken, a
    // kernel check) fails in one worker, with one error line, not in every worker at once.
    const [first] = this.slots;
    if (first !== undefined) this.fork(first);
    const { metricsListen } = this.options;
    if (metricsListen !== undefined) {
      this.http = await startHttpServer(
        metricsListen,
        { registry: { metrics: () => this.aggregator.clusterMetrics(), contentType: this.aggregator.contentType }, setReadinessProbe: () => undefined },
        { ready: () => this.readiness() },
        this.liveView,
      );
    }
    this.options.logger.info(
      { ...this.options.described, workers: this.options.count, pid: process.pid, metrics: this.http === undefined ? 'off' : `http://${formatEndpoint(this.http.address)}/metrics` },
      'ftpmasq primary ready',
    );
    const outcome = await this.done;
    await this.http?.close();
    for (const signal of HANDLED_SIGNALS) this.options.signals.off(signal, this.onSignal);
    return outcome;
  }

  /**
   * /readyz for the whole process, in one process's shape: the first line says why (`ready`,
   * `draining`, or the first reason a worker is not ready), a line per worker, the configuration
   * last (each worker's, when they differ). Ready when every worker is running and ready.
   */
  readiness(): { ready: boolean; detail: string } {
    const now = Date.now();
    const configs = new Map<string, number[]>();
    const states = this.slots.map((slot) => {
      const { health, worker } = slot;
      if (worker === undefined) return { ready: false, reason: `worker ${slot.index}: not running`, line: `worker ${slot.index}: not running` };
      const name = `worker ${slot.index} (pid ${worker.process.pid})`;
      if (health === undefined || now - health.at > HEALTH_STALE_MS) return { ready: false, reason: `${name}: no recent health report`, line: `${name}: no recent health report` };
      const lines = health.detail.split('\n');
      for (const config of lines.filter((line) => line.startsWith('config: '))) configs.set(config, [...(configs.get(config) ?? []), slot.index]);
      const facts = lines.filter((line) => !line.startsWith('config: '));
      return { ready: health.ready, reason: facts[0] ?? 'not ready', line: `${name}: ${facts.join('; ')}` };
    });
    const ready = this.state !== 'draining' && states.every((state) => state.ready);
    const first = this.state === 'draining' ? 'draining' : ready ? 'ready' : (states.find((state) => !state.ready)?.reason ?? 'not ready');
    const config = configs.size === 1 ? [...configs.keys()] : [...configs].map(([line, workers]) => `${line} (worker ${workers.join(', ')})`);
    return { ready, detail: [first, ...states.map((state) => state.line), ...config].join('\n') };
  }

  private fork(slot: Slot): void {
    slot.restart = undefined;
    slot.health = undefined;
    slot.startedAt = Date.now();
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(slot.index), [WORKER_COUNT_ENV]: String(this.options.count) });
    slot.worker = worker;
    worker.on('message', (message: unknown) => {
      if (answerAdmission(this.admission, worker.id, message, (verdict) => worker.isConnected() && worker.send(verdict))) return;
      if (this.liveView.receive(message)) return;
      const health = parseHealthMessage(message);
      if (health === undefined) return;
      const first = slot.health === undefined;
      slot.health = { ...health, at: Date.now() };
      // Its first report comes once it listens for forwarded signals: a stop it missed is sent now.
      if (first && this.stopSignal !== undefined) this.send(worker, this.stopSignal);
      if (first && slot.index === 0 && this.state === 'starting') for (const other of this.slots.slice(1)) if (other.worker === undefined) this.fork(other);
      if (this.state === 'starting' && this.slots.every((each) => each.health !== undefined)) {
        this.state = 'running';
        this.options.logger.info({ workers: this.options.count }, 'every worker ready');
      }
    });
    worker.on('exit', (code, signal) => this.onExit(slot, worker, code, signal));
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.health = undefined;
    const { logger } = this.options;
    const dropped = this.admission.dropOwner(worker.id);
    if (dropped > 0) logger.info({ worker: slot.index, sessions: dropped }, "a dead worker's sessions no longer count towards the limits");
    if (this.state === 'starting') {
      // A worker that cannot start (a port taken, a bad file) would fail the same way again.
      logger.error({ worker: slot.index, pid: worker.process.pid, code, signal }, 'worker failed to start; stopping the others');
      this.state = 'draining';
      this.broadcast('SIGTERM');
      this.finishIfAllStopped({ kind: 'failed-start', exitCode: typeof code === 'number' && code !== 0 ? code : 1 });
      return;
    }
    if (this.state === 'draining') {
      this.finishIfAllStopped({ kind: 'stopped' });
      return;
    }
    const delayMs = Math.max(0, slot.startedAt + MIN_RESTART_INTERVAL_MS - Date.now());
    logger.warn({ worker: slot.index, pid: worker.process.pid, code, signal, restartInMs: delayMs }, 'worker died; starting a new one');
    slot.restart = setTimeout(() => this.fork(slot), delayMs);
  }

  private failure: PoolOutcome | undefined;

  private finishIfAllStopped(outcome: PoolOutcome): void {
    this.failure ??= outcome.kind === 'failed-start' ? outcome : undefined;
    if (this.slots.some((slot) => slot.worker !== undefined)) return;
    this.resolveDone?.(this.failure ?? outcome);
  }

  private handle(signal: NodeJS.Signals): void {
    const { logger } = this.options;
    if (signal === 'SIGHUP') {
      if (this.state === 'draining') return;
      try {
        this.options.validateReload();
      } catch (error) {
        // Every worker would fail alike; one of them counts and logs the failure, once.
        logger.warn({ error: error instanceof Error ? error.message : String(error) }, 'reload: invalid configuration; every worker keeps the running one');
        const first = this.slots.find((slot) => slot.worker !== undefined && slot.health !== undefined);
        if (first?.worker !== undefined) this.send(first.worker, 'SIGHUP');
        return;
      }
      this.broadcast('SIGHUP');
      return;
    }
    this.stopSignals += 1;
    if (this.stopSignals === 1) logger.info({ signal, workers: this.options.count }, 'shutting down every worker');
    this.state = 'draining';
    for (const slot of this.slots) {
      clearTimeout(slot.restart);
      slot.restart = undefined;
    }
    this.broadcast(signal === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
    this.finishIfAllStopped({ kind: 'stopped' });
  }

  /** To every worker that listens for forwarded signals yet (it has reported its health once). */
  private broadcast(signal: HandledSignal): void {
    if (signal !== 'SIGHUP') this.stopSignal = signal;
    for (const slot of this.slots) if (slot.worker !== undefined && slot.health !== undefined) this.send(slot.worker, signal);
  }

  private send(worker: Worker, signal: HandledSignal): void {
    const message: SignalMessage = { ftpmasq: 'signal', signal };
    if (worker.isConnected()) worker.send(message);
  }
}
