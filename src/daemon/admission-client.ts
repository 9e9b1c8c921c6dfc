/**
 * A worker's side of the shared session counts (admission-counter.ts): at the admission point
 * it asks the primary whether the site's limits admit one more session, and tells it when an
 * admitted session ends. Bounded: a verdict that does not come within the timeout refuses the
 * connection (421, `admission_unanswered`); a verdict to admit that comes after that is released
 * at once, so the primary's counts stay exact.
 */
import { ADMISSION_UNANSWERED_REPLY, type AdmissionDecision, type AdmissionLimits, limitRefusal } from '../site/admission.js';
import { type AdmissionClaimMessage, type AdmissionReleaseMessage, parseAdmissionVerdict } from './worker-messages.js';

/** Far above an IPC round trip to an idle primary (well under 1 ms); a primary this late is stuck. */
export const ADMISSION_REPLY_TIMEOUT_MS = 2000;
/** Claims whose verdict is still owed after their timeout, remembered to release a late admit. */
const MAX_EXPIRED_CLAIMS = 1024;

/** What a Site asks when the counts are shared; undefined in one process, which counts alone. */
export interface SharedAdmission {
  claim(site: string, client: string, limits: AdmissionLimits): Promise<AdmissionDecision>;
  release(site: string, client: string): void;
}

/** The IPC channel to the primary (`process` in a worker; a fake in tests). */
export interface PrimaryChannel {
  /** False when the message could not be sent (the channel is closed). */
  send(message: AdmissionClaimMessage | AdmissionReleaseMessage): boolean;
  onMessage(listener: (message: unknown) => void): void;
}

export const UNANSWERED: AdmissionDecision = { kind: 'refuse', reason: 'admission_unanswered', reply: ADMISSION_UNANSWERED_REPLY };

interface PendingClaim {
  readonly site: string;
  readonly client: string;
  readonly limits: AdmissionLimits;
  readonly resolve: (decision: AdmissionDecision) => void;
  readonly timer: NodeJS.Timeout;
}

export class AdmissionClient implements SharedAdmission {
  private lastId = 0;
  private readonly pending = new Map<number, PendingClaim>();
  private readonly expired = new Map<number, { readonly site: string; readonly client: string }>();

  constructor(
    private readonly channel: PrimaryChannel,
    private readonly timeoutMs = ADMISSION_REPLY_TIMEOUT_MS,
  ) {
    channel.onMessage((message) => this.onMessage(message));
  }

  claim(site: string, client: string, limits: AdmissionLimits): Promise<AdmissionDecision> {
    const id = ++this.lastId;
    return new Promise((resolve) => {
      const message: AdmissionClaimMessage = {
        ftpmasq: 'admission-claim',
        id,
        site,
        client,
        maxSessions: limits.maxSessions,
        maxSessionsPerClient: limits.maxSessionsPerClient ?? null,
      };
      if (!this.channel.send(message)) {
        resolve(UNANSWERED);
        return;
      }
      const timer = setTimeout(() => this.expire(id), this.timeoutMs);
      this.pending.set(id, { site, client, limits, resolve, timer });
    });
  }

  release(site: string, client: string): void {
    this.channel.send({ ftpmasq: 'admission-release', site, client });
  }

  /** Claims waiting for their verdict (tests). */
  get waiting(): number {
    return this.pending.size;
  }

  private expire(id: number): void {
    const claim = this.pending.get(id);
    if (claim === undefined) return;
    this.pending.delete(id);
    this.expired.set(id, { site: claim.site, client: claim.client });
    for (const oldest of this.expired.keys()) {
      if (this.expired.size <= MAX_EXPIRED_CLAIMS) break;
      this.expired.delete(oldest);
    }
    claim.resolve(UNANSWERED);
  }

  private onMessage(message: unknown): void {
    const verdict = parseAdmissionVerdict(message);
    if (verdict === undefined) return;
    const late = this.expired.get(verdict.id);
    if (late !== undefined) {
      // The connection was already refused: a session counted for it would never end.
      this.expired.delete(verdict.id);
      if (verdict.verdict === 'admit') this.release(late.site, late.client);
      return;
    }
    const claim = this.pending.get(verdict.id);
    if (claim === undefined) return;
    this.pending.delete(verdict.id);
    clearTimeout(claim.timer);
    claim.resolve(verdict.verdict === 'admit' ? { kind: 'admit' } : limitRefusal(verdict.verdict, claim.limits));
  }
}

/** This worker's IPC channel to its primary. */
export function primaryChannel(): PrimaryChannel {
  return {
    send: (message) => {
      // A send on a closed channel would emit an 'error' on process, which nobody handles.
      if (!process.connected || process.send === undefined) return false;
      // send() answers false also when its backlog is long, yet the message still goes: sent.
      process.send(message, undefined, {}, () => undefined);
      return true;
    },
    onMessage: (listener) => process.on('message', listener),
  };
}
