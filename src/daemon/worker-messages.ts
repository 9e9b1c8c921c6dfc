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

/** Worker to primary: may a session from `client` open on `site`? Sent after the access lists admitted it. */
export interface AdmissionClaimMessage {
  readonly ftpmasq: 'admission-claim';
  readonly id: number;
  readonly site: string;
  readonly client: string;
  readonly maxSessions: number;
  /** null: no per-client limit (undefined does not cross IPC). */
  readonly maxSessionsPerClient: number | null;
}

/** Primary to worker: the answer to the claim `id`; `admit` counts the session until its release. */
export interface AdmissionVerdictMessage {
  readonly ftpmasq: 'admission-verdict';
  readonly id: number;
  readonly verdict: AdmissionVerdict;
}

export const ADMISSION_VERDICTS = ['admit', 'session_limit', 'client_session_limit'] as const;
export type AdmissionVerdict = (typeof ADMISSION_VERDICTS)[number];

/** Worker to primary: an admitted session ended. */
export interface AdmissionReleaseMessage {
  readonly ftpmasq: 'admission-release';
  readonly site: string;
  readonly client: string;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function parseAdmissionClaim(message: unknown): AdmissionClaimMessage | undefined {
  if (!isRecord(message) || message['ftpmasq'] !== 'admission-claim') return undefined;
  const { id, site, client, maxSessions, maxSessionsPerClient } = message;
  if (!isCount(id) || typeof site !== 'string' || typeof client !== 'string' || !isCount(maxSessions)) return undefined;
  if (maxSessionsPerClient !== null && !isCount(maxSessionsPerClient)) return undefined;
  return { ftpmasq: 'admission-claim', id, site, client, maxSessions, maxSessionsPerClient };
}

export function parseAdmissionRelease(message: unknown): AdmissionReleaseMessage | undefined {
  if (!isRecord(message) || message['ftpmasq'] !== 'admission-release') return undefined;
  const { site, client } = message;
  return typeof site === 'string' && typeof client === 'string' ? { ftpmasq: 'admission-release', site, client } : undefined;
}

export function parseAdmissionVerdict(message: unknown): AdmissionVerdictMessage | undefined {
  if (!isRecord(message) || message['ftpmasq'] !== 'admission-verdict') return undefined;
  const { id, verdict } = message;
  const known = ADMISSION_VERDICTS.find((each) => each === verdict);
  return isCount(id) && known !== undefined ? { ftpmasq: 'admission-verdict', id, verdict: known } : undefined;
}

/** Primary to worker: the live view of your sessions, please (answered with the same id). */
export interface LiveRequestMessage {
  readonly ftpmasq: 'live-request';
  readonly id: number;
}

export function parseLiveRequest(message: unknown): LiveRequestMessage | undefined {
  if (!isRecord(message) || message['ftpmasq'] !== 'live-request') return undefined;
  const { id } = message;
  return isCount(id) ? { ftpmasq: 'live-request', id } : undefined;
}
