/**
 * The session counts of `workers: N`, kept by the primary for every worker (docs/DESIGN.md,
 * "Admission and split horizon"): per site, and per site and client address, so maxSessions and
 * maxSessionsPerClient hold across workers instead of N times over. A worker decides the access
 * lists itself and asks here for the limits; `decideLimits` stays the policy, these counts are
 * the only state. Each count is held by the worker that asked for it, so the counts of a worker
 * that dies are dropped with it. One process (workers 1) keeps its own counts in Site and never
 * asks. No I/O: worker-pool.ts carries the messages.
 */
import { type AdmissionDecision, type AdmissionLimits, type AdmissionRefusal, decideLimits } from '../site/admission.js';
import { type AdmissionVerdict, type AdmissionVerdictMessage, parseAdmissionClaim, parseAdmissionRelease } from './worker-messages.js';

interface SiteCounts {
  sessions: number;
  readonly byClient: Map<string, number>;
}

export class AdmissionCounter {
  private readonly sites = new Map<string, SiteCounts>();
  /** Per owner (a cluster worker's id), its sessions by site and client. */
  private readonly owners = new Map<number, Map<string, Map<string, number>>>();

  /** Decides on the counts now; an admitted session counts until released or its owner is dropped. */
  claim(owner: number, site: string, client: string, limits: AdmissionLimits): AdmissionDecision {
    const counts = this.sites.get(site);
    const decision = decideLimits(limits, { sessions: counts?.sessions ?? 0, sessionsFromClient: counts?.byClient.get(client) ?? 0 });
    if (decision.kind === 'admit') {
      this.add(site, client, 1);
      const held = this.owners.get(owner) ?? new Map<string, Map<string, number>>();
      this.owners.set(owner, held);
      const clients = held.get(site) ?? new Map<string, number>();
      held.set(site, clients);
      clients.set(client, (clients.get(client) ?? 0) + 1);
    }
    return decision;
  }

  /** A session of `owner` ended. A release nobody claimed (a repeated message) changes nothing. */
  release(owner: number, site: string, client: string): void {
    const clients = this.owners.get(owner)?.get(site);
    const held = clients?.get(client) ?? 0;
    if (clients === undefined || held === 0) return;
    if (held > 1) clients.set(client, held - 1);
    else clients.delete(client);
    this.add(site, client, -1);
  }

  /** The owner is gone (a worker died): every session it held is forgotten. Returns how many. */
  dropOwner(owner: number): number {
    const held = this.owners.get(owner);
    this.owners.delete(owner);
    let dropped = 0;
    for (const [site, clients] of held ?? []) {
      for (const [client, count] of clients) {
        this.add(site, client, -count);
        dropped += count;
      }
    }
    return dropped;
  }

  sessions(site: string): number {
    return this.sites.get(site)?.sessions ?? 0;
  }

  sessionsFrom(site: string, client: string): number {
    return this.sites.get(site)?.byClient.get(client) ?? 0;
  }

  private add(site: string, client: string, delta: number): void {
    const counts = this.sites.get(site) ?? { sessions: 0, byClient: new Map<string, number>() };
    counts.sessions += delta;
    const fromClient = (counts.byClient.get(client) ?? 0) + delta;
    if (fromClient > 0) counts.byClient.set(client, fromClient);
    else counts.byClient.delete(client);
    if (counts.sessions > 0) this.sites.set(site, counts);
    else this.sites.delete(site);
  }
}

/**
 * The primary's side of the messages: a claim is decided and answered through `reply`, a release
 * counted. False when the message is neither (another kind of message).
 */
export function answerAdmission(counter: AdmissionCounter, owner: number, message: unknown, reply: (verdict: AdmissionVerdictMessage) => void): boolean {
  const release = parseAdmissionRelease(message);
  if (release !== undefined) {
    counter.release(owner, release.site, release.client);
    return true;
  }
  const claim = parseAdmissionClaim(message);
  if (claim === undefined) return false;
  const limits = { maxSessions: claim.maxSessions, maxSessionsPerClient: claim.maxSessionsPerClient ?? undefined };
  const decision = counter.claim(owner, claim.site, claim.client, limits);
  reply({ ftpmasq: 'admission-verdict', id: claim.id, verdict: decision.kind === 'admit' ? 'admit' : verdictOf(decision.reason) });
  return true;
}

function verdictOf(reason: AdmissionRefusal['reason']): AdmissionVerdict {
  // decideLimits refuses only for a limit; anything else would be a programmer error, answered as the site's limit.
  return reason === 'client_session_limit' ? 'client_session_limit' : 'session_limit';
}
