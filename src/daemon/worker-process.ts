/**
 * The worker side of `workers: N`: which slice this process owns, its signals (sent by the
 * primary over IPC, never taken from the OS: a Ctrl-C or systemd's SIGTERM to the whole group
 * must not make a worker stop on its own, or count twice and stop it at once), its metrics
 * (answered to the primary's AggregatorRegistry), its readiness and its live view's sessions.
 */
import cluster from 'node:cluster';
import { EventEmitter } from 'node:events';
import { AggregatorRegistry } from 'prom-client';
import type { SliceSpec } from '../site/port-slices.js';
import type { RunningDaemon } from './daemon.js';
import { HANDLED_SIGNALS, type HandledSignal, type SignalSource } from './supervisor.js';
import type { LiveReplyMessage } from './worker-live-view.js';
import { type HealthMessage, WORKER_COUNT_ENV, WORKER_INDEX_ENV, parseLiveRequest, parseSignalMessage } from './worker-messages.js';

const HEALTH_INTERVAL_MS = 1000;

/** This process's slice when it is a worker of a primary; undefined when it serves alone. */
export function workerSlice(env: NodeJS.ProcessEnv = process.env): SliceSpec | undefined {
  if (!cluster.isWorker) return undefined;
  const index = Number(env[WORKER_INDEX_ENV]);
  const count = Number(env[WORKER_COUNT_ENV]);
  if (!Number.isInteger(index) || !Number.isInteger(count)) throw new Error('a cluster worker started without its slice in the environment');
  return { index, count };
}

/** The signals the primary forwards; the OS's own are taken and ignored. */
export function primarySignals(): SignalSource {
  const forwarded = new EventEmitter<Record<HandledSignal, [NodeJS.Signals]>>();
  const ignore = (): void => undefined;
  for (const signal of HANDLED_SIGNALS) process.on(signal, ignore);
  process.on('message', (message: unknown) => {
    const parsed = parseSignalMessage(message);
    if (parsed !== undefined) forwarded.emit(parsed.signal, parsed.signal);
  });
  return forwarded;
}

/** From now on the primary may scrape this worker's metrics and sees its readiness every second. */
export function serveWorker(daemon: RunningDaemon): { finish(): void } {
  daemon.metrics.setReadinessProbe(() => daemon.readiness().ready);
  AggregatorRegistry.setRegistries([daemon.metrics.registry]);
  // Constructing one installs prom-client's answer to the primary's metrics requests.
  new AggregatorRegistry();
  const report = (): void => {
    const { ready, detail } = daemon.readiness();
    const message: HealthMessage = { ftpmasq: 'health', ready, detail };
    process.send?.(message);
  };
  report();
  const timer = setInterval(report, HEALTH_INTERVAL_MS);
  const answerLive = (message: unknown): void => {
    const request = parseLiveRequest(message);
    if (request === undefined || !process.connected) return;
    const reply: LiveReplyMessage = { ftpmasq: 'live-reply', id: request.id, document: daemon.liveView.render() };
    process.send?.(reply, undefined, {}, () => undefined);
  };
  process.on('message', answerLive);
  return {
    finish: () => {
      clearInterval(timer);
      process.off('message', answerLive);
      // A disconnect the worker asked for lets it exit with its own code once its loop is empty.
      cluster.worker?.disconnect();
    },
  };
}
