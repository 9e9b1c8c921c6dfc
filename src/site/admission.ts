/**
 * Who may open a session on a site, decided before ftpmasq dials the upstream. Pure: the site's
 * lists and limits and the facts of one accepted connection in, a decision out; `Site.accept`
 * applies it (421, count, log). Deny wins over allow; no allow list admits everyone.
 */
import type { SiteConfig } from '../config/types.js';
import type { RefusalReason } from '../observability/metrics.js';
import { matchesAny } from '../protocol/cidr.js';

export type AdmissionPolicy = Pick<SiteConfig, 'allowClients' | 'denyClients' | 'maxSessions' | 'maxSessionsPerClient'>;
export type AdmissionLimits = Pick<SiteConfig, 'maxSessions' | 'maxSessionsPerClient'>;

export interface AdmissionFacts {
  /** The client's address, normalized. */
  readonly clientAddress: string;
  /** Sessions of the site running now, and how many of them come from this client's address. */
  readonly sessions: number;
  readonly sessionsFromClient: number;
}

export interface AdmissionRefusal {
  readonly kind: 'refuse';
  readonly reason: Extract<RefusalReason, 'client_denied' | 'session_limit' | 'client_session_limit' | 'admission_unanswered'>;
  readonly reply: string;
  /** The limit that was reached, for the log line. */
  readonly limit?: number;
}

export type AdmissionDecision = { readonly kind: 'admit' } | AdmissionRefusal;

export const CLIENT_DENIED_REPLY = '421 Service not available for your address.\r\n';
export const SESSION_LIMIT_REPLY = '421 Too many connections, try again later.\r\n';
export const CLIENT_SESSION_LIMIT_REPLY = '421 Too many connections from your address, try again later.\r\n';
/** With workers: the primary, which keeps the counts, did not answer in time. */
export const ADMISSION_UNANSWERED_REPLY = '421 Service not available, try again later.\r\n';

export type LimitReason = 'session_limit' | 'client_session_limit';

export function decideAdmission(site: AdmissionPolicy, facts: AdmissionFacts): AdmissionDecision {
  const access = decideAccess(site, facts.clientAddress);
  return access.kind === 'refuse' ? access : decideLimits(site, facts);
}

/** The access lists alone: what a worker of `workers: N` decides by itself, before asking for a count. */
export function decideAccess(site: Pick<AdmissionPolicy, 'allowClients' | 'denyClients'>, clientAddress: string): AdmissionDecision {
  const allowed = site.allowClients.length === 0 || matchesAny(site.allowClients, clientAddress);
  if (!allowed || matchesAny(site.denyClients, clientAddress)) {
    return { kind: 'refuse', reason: 'client_denied', reply: CLIENT_DENIED_REPLY };
  }
  return { kind: 'admit' };
}

/** The session limits alone, on counts kept by one process or, with workers, by the primary for all of them. */
export function decideLimits(site: AdmissionLimits, facts: Omit<AdmissionFacts, 'clientAddress'>): AdmissionDecision {
  if (facts.sessions >= site.maxSessions) return limitRefusal('session_limit', site);
  const perClient = site.maxSessionsPerClient;
  if (perClient !== undefined && facts.sessionsFromClient >= perClient) return limitRefusal('client_session_limit', site);
  return { kind: 'admit' };
}

/** The refusal of a reached limit: also how a worker rebuilds the primary's verdict. */
export function limitRefusal(reason: LimitReason, site: AdmissionLimits): AdmissionRefusal {
  return reason === 'session_limit'
    ? { kind: 'refuse', reason, reply: SESSION_LIMIT_REPLY, limit: site.maxSessions }
    : { kind: 'refuse', reason, reply: CLIENT_SESSION_LIMIT_REPLY, ...(site.maxSessionsPerClient === undefined ? {} : { limit: site.maxSessionsPerClient }) };
}
