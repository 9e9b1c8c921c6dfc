/**
 * Who may open a session on a site, decided before ftpmasq dials the upstream. Pure: the site's
 * lists and limits and the facts of one accepted connection in, a decision out; `Site.accept`
 * applies it (421, count, log). Deny wins over allow; no allow list admits everyone.
 */
import type { SiteConfig } from '../config/types.js';
import type { RefusalReason } from '../observability/metrics.js';
import { matchesAny } from '../protocol/cidr.js';

export type AdmissionPolicy = Pick<SiteConfig, 'allowClients' | 'denyClients' | 'maxSessions' | 'maxSessionsPerClient'>;

export interface AdmissionFacts {
  /** The client's address, normalized. */
  readonly clientAddress: string;
  /** Sessions of the site running now, and how many of them come from this client's address. */
  readonly sessions: number;
  readonly sessionsFromClient: number;
}

export interface AdmissionRefusal {
  readonly kind: 'refuse';
  readonly reason: Extract<RefusalReason, 'client_denied' | 'session_limit' | 'client_session_limit'>;
  readonly reply: string;
  /** The limit that was reached, for the log line. */
  readonly limit?: number;
}

export type AdmissionDecision = { readonly kind: 'admit' } | AdmissionRefusal;

export const CLIENT_DENIED_REPLY = '421 Service not available for your address.\r\n';
export const SESSION_LIMIT_REPLY = '421 Too many connections, try again later.\r\n';
export const CLIENT_SESSION_LIMIT_REPLY = '421 Too many connections from your address, try again later.\r\n';

export function decideAdmission(site: AdmissionPolicy, facts: AdmissionFacts): AdmissionDecision {
  const { clientAddress } = facts;
  const allowed = site.allowClients.length === 0 || matchesAny(site.allowClients, clientAddress);
  if (!allowed || matchesAny(site.denyClients, clientAddress)) {
    return { kind: 'refuse', reason: 'client_denied', reply: CLIENT_DENIED_REPLY };
  }
  if (facts.sessions >= site.maxSessions) {
    return { kind: 'refuse', reason: 'session_limit', reply: SESSION_LIMIT_REPLY, limit: site.maxSessions };
  }
  const perClient = site.maxSessionsPerClient;
  if (perClient !== undefined && facts.sessionsFromClient >= perClient) {
    return { kind: 'refuse', reason: 'client_session_limit', reply: CLIENT_SESSION_LIMIT_REPLY, limit: perClient };
  }
  return { kind: 'admit' };
}
