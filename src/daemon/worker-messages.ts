/** The IPC messages between the primary of `workers: N` and its workers (worker-pool.ts, worker-process.ts). */
import { HANDLED_SIGNALS, type HandledSignal } from './supervisor.js';

/** Primary to worker: act on this signal as if it had arrived (the primary alone takes the real ones). */
export interface SignalMessage {
  readonly ftpmasq: 'signal';
  readonly signal: HandledSignal;
}

/** Worker to primary: the daemon's /readyz answer, sent at start and every second. */
export interface HealthMessage {
  readonly ftpmasq: 'health';
  readonly ready: boolean;
  readonly detail: string;
}

/** The environment a worker is started with: which slice of every passive range it owns. */
export const WORKER_INDEX_ENV = 'FTPMASQ_WORKER_INDEX';
export const WORKER_COUNT_ENV = 'FTPMASQ_WORKER_COUNT';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isHandledSignal(value: unknown): value is HandledSignal {
  return HANDLED_SIGNALS.some((signal) => signal === value);
}

export function parseSignalMessage(message: unknown): SignalMessage | undefined {
  if (!isRecord(message) || message['ftpmasq'] !== 'signal') return undefined;
  const signal = message['signal'];
  return isHandledSignal(signal) ? { ftpmasq: 'signal', signal } : undefined;
}

export function parseHealthMessage(message: unknown): HealthMessage | undefined {
  if (!isRecord(message) || message['ftpmasq'] !== 'health') return undefined;
  const { ready, detail } = message;
  return typeof ready === 'boolean' && typeof detail === 'string' ? { ftpmasq: 'health', ready, detail } : undefined;
}
