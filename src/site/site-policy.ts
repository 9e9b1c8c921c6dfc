/**
 * Every decision about what ftpmasq refuses, rewrites or advertises for a site, as values. Pure:
 * a site's settings and the facts of a session in, a decision out; the session and its command
 * handlers apply it (send, count, log) and never read `mode`, `epsv` or `active` themselves.
 * The address rules it applies live in `protocol/address-policy.ts` (docs/SECURITY.md).
 */
import type { SiteConfig } from '../config/types.js';
import type { RefusalReason } from '../observability/metrics.js';
import { checkActiveTarget, decidePasvRewrite, ipFamily, normalizeAddress } from '../protocol/address-policy.js';
import { firstMatch, matchesAny } from '../protocol/cidr.js';
import {
  format227,
  format229,
  parse227,
  parseEprtArgument,
  parsePortArgument,
  type HostPort,
  type ParseResult,
} from '../protocol/data-addresses.js';

/** The settings of a site that decide; a SiteConfig has them all. No split horizon lists: none apply. */
export type SitePolicy = Pick<SiteConfig, 'mode' | 'epsv' | 'active' | 'publicAddress'> &
  Partial<Pick<SiteConfig, 'advertise' | 'passThroughClients'>>;

/** What the session knows when it decides. */
export interface SessionFacts {
  /** The control client's address, normalized. */
  readonly clientAddress: string;
  /** ftpmasq's own address on the client's control connection, normalized. */
  readonly ownAddress: string;
  /** RFC 2428 section 4: the client sent `EPSV ALL`. */
  readonly epsvAllSeen: boolean;
  /** The address a `publicAddress` given as a DNS name resolves to now; undefined before it first does. */
  readonly publicAddress?: string | undefined;
}

/** What a passive command asks of the upstream, and how ftpmasq answers the client. */
export interface PassiveExchange {
  readonly upstreamReply: 227 | 229;
  readonly answerAs: 227 | 229;
}

/** A command ftpmasq answers itself and counts as refused. */
export interface Refusal {
  readonly kind: 'refuse';
  readonly reason: RefusalReason;
  readonly reply: string;
  /** What was refused, for the log line. */
  readonly details: Readonly<Record<string, string | number>>;
}

export type PasvDecision = Refusal | { readonly kind: 'passive'; readonly exchange: PassiveExchange };

export type EpsvDecision =
  | Refusal
  /** Answered by ftpmasq without a refusal (`522`: the other address family). */
  | { readonly kind: 'answer'; readonly reply: string }
  /** `EPSV ALL`: remembered; answered by ftpmasq (`reply`) or forwarded as sent. */
  | { readonly kind: 'epsv-all'; readonly reply: string | undefined }
  /** Forwarded as sent, its reply passed on unchanged. */
  | { readonly kind: 'forward' }
  /** `send`: upstream gets the client's line as sent, or `PASV` in its place. */
  | { readonly kind: 'passive'; readonly send: 'as-sent' | 'PASV'; readonly exchange: PassiveExchange };

export type ActiveDecision = Refusal | { readonly kind: 'active'; readonly target: HostPort };

export type PassiveReplyDecision =
  /** Relay mode: a port of ftpmasq's own range answers (formatRelayedPassiveReply). */
  | { readonly kind: 'relay' }
  /**
   * Kernel mode, IPv4 client: answered as in relay mode, and the kernel forwards the port to the
   * server's (one nftables transaction per transfer, src/kernel/). An IPv6 client's data is
   * relayed: there is no NAT from IPv6 to the IPv4 server.
   */
  | { readonly kind: 'kernel' }
  /** Rewrite mode: the answer names the server's port; `rewrite` is the counted kind. */
  | { readonly kind: 'rewrite'; readonly answer: Buffer; readonly rewrite: 'pasv' | 'epsv' }
  /** Rewrite mode: the server's reply is passed on unchanged. */
  | { readonly kind: 'pass' };

/** Kernel mode: the site's passive data is forwarded by nftables (the daemon starts the forwarder for it). */
export function forwardsInKernel(site: Pick<SitePolicy, 'mode'>): boolean {
  return site.mode === 'kernel';
}

function refusal(reason: RefusalReason, reply: string, details: Readonly<Record<string, string | number>>): Refusal {
  return { kind: 'refuse', reason, reply, details };
}

function refusalAfterEpsvAll(verb: string): Refusal {
  return refusal('after_epsv_all', `501 ${verb} not allowed after EPSV ALL.\r\n`, { verb });
}

/**
 * The address clients are told to connect to in a 227: IPv4 only, by the protocol. Split horizon
 * first: in relay mode a client of the first `advertise` rule that matches is told its address
 * (a client inside the gateway cannot use the public one where the router does no hairpin NAT).
 * A `publicAddress` that is a DNS name counts as given only once it has resolved
 * (`facts.publicAddress`); until then the local address of the control connection is named.
 */
export function advertisedIpv4(site: Pick<SitePolicy, 'publicAddress' | 'advertise'> & Partial<Pick<SitePolicy, 'mode'>>, facts: SessionFacts): string | undefined {
  const rule = site.mode !== 'rewrite' ? firstMatch(site.advertise ?? [], facts.clientAddress) : undefined;
  const configured = rule?.address ?? facts.publicAddress ?? site.publicAddress;
  if (configured !== undefined && ipFamily(configured) === 4) return normalizeAddress(configured);
  return ipFamily(facts.ownAddress) === 4 && ipFamily(facts.clientAddress) === 4 ? facts.ownAddress : undefined;
}

export function decidePasv(site: SitePolicy, facts: SessionFacts): PasvDecision {
  if (facts.epsvAllSeen) return refusalAfterEpsvAll('PASV');
  // An IPv6 client would come back over IPv4 from an address ftpmasq cannot tie to its control
  // connection, so the data-peer check could not hold: refused even with an IPv4 public address.
  if (site.mode !== 'rewrite' && (ipFamily(facts.clientAddress) === 6 || advertisedIpv4(site, facts) === undefined)) {
    return refusal('ipv6_pasv', '425 PASV cannot name an IPv6 address; use EPSV.\r\n', { verb: 'PASV' });
  }
  return { kind: 'passive', exchange: { upstreamReply: 227, answerAs: 227 } };
}

/** `argument`: the EPSV argument as ASCII, trimmed (`''`, `1`, `2`, `ALL`). */
export function decideEpsv(site: SitePolicy, argument: string, facts: SessionFacts): EpsvDecision {
  const upperArgument = argument.toUpperCase();
  if (site.epsv === 'disable') return refusal('epsv_disabled', '502 EPSV is disabled on this proxy; use PASV.\r\n', { verb: 'EPSV' });
  if (upperArgument === 'ALL') {
    return { kind: 'epsv-all', reply: site.epsv === 'translate' ? '200 EPSV ALL command successful.\r\n' : undefined };
  }
  if (site.epsv === 'translate') {
    const clientFamily = ipFamily(facts.clientAddress) === 6 ? '2' : '1';
    if (upperArgument !== '' && upperArgument !== clientFamily) {
      return { kind: 'answer', reply: `522 Network protocol not supported, use (${clientFamily}).\r\n` };
    }
    return { kind: 'passive', send: 'PASV', exchange: { upstreamReply: 227, answerAs: 229 } };
  }
  // Rewrite mode: the server's 229 names only a port, which the NAT forwards as it is.
  if (site.mode === 'rewrite') return { kind: 'forward' };
  return { kind: 'passive', send: 'as-sent', exchange: { upstreamReply: 229, answerAs: 229 } };
}

/** PORT or EPRT with its argument as ASCII, trimmed. */
export function decideActive(site: SitePolicy, verb: 'PORT' | 'EPRT', argument: string, facts: SessionFacts): ActiveDecision {
  if (site.active === 'disable') {
    return refusal('active_disabled', `502 ${verb} is disabled on this proxy; use passive mode.\r\n`, { verb });
  }
  if (facts.epsvAllSeen) return refusalAfterEpsvAll(verb);
  const parsed: ParseResult<HostPort> = verb === 'PORT' ? parsePortArgument(argument) : parseEprtArgument(argument);
  if (!parsed.ok) {
    return refusal('bad_argument', `501 Syntax error in ${verb} argument: ${parsed.reason}.\r\n`, { verb, problem: parsed.reason });
  }
  const { host, port } = parsed.value;
  const check = checkActiveTarget(host, port, facts.clientAddress);
  if (!check.ok) {
    const reason = check.reason === 'foreign-host' ? 'bounce_foreign_host' : 'bounce_privileged_port';
    return refusal(reason, `${check.reply}\r\n`, { verb, target: `${host}:${port}` });
  }
  return { kind: 'active', target: { host, port } };
}

/**
 * The answer to a passive reply the server gave as asked (`replyText`: all its lines). Relay
 * mode answers with a port of ftpmasq's own; rewrite mode names the server's port, replacing the
 * address of a 227 only when the client could not reach it.
 */
export function decidePassiveReply(
  site: SitePolicy,
  exchange: PassiveExchange,
  reply: { readonly text: Buffer; readonly upstreamPort: number; readonly eol: string },
  facts: SessionFacts,
): PassiveReplyDecision {
  if (site.mode === 'relay') return { kind: 'relay' };
  if (site.mode === 'kernel') return ipFamily(facts.clientAddress) === 4 ? { kind: 'kernel' } : { kind: 'relay' };
  if (exchange.answerAs === 229) {
    // EPSV translated to PASV upstream: the port is the server's, reached through the NAT.
    return { kind: 'rewrite', answer: format229(reply.upstreamPort, '|', reply.eol), rewrite: 'epsv' };
  }
  // A client that reaches the server directly is told the server's own address.
  if (matchesAny(site.passThroughClients ?? [], facts.clientAddress)) return { kind: 'pass' };
  const parsed = parse227(reply.text);
  const advertised = advertisedIpv4(site, facts);
  if (parsed.ok && advertised !== undefined && exchange.upstreamReply === 227) {
    if (decidePasvRewrite(parsed.value.host, advertised).rewrite) {
      return { kind: 'rewrite', answer: format227(advertised, reply.upstreamPort, reply.eol), rewrite: 'pasv' };
    }
  }
  return { kind: 'pass' };
}

/**
 * Relay mode's answer naming ftpmasq's port: a 227 with the advertised IPv4 address, or a 229
 * keeping the delimiter the server chose (RFC 2428 allows any).
 */
export function formatRelayedPassiveReply(
  exchange: PassiveExchange,
  port: number,
  delimiter: string,
  eol: string,
  advertised: string | undefined,
): { readonly answer: Buffer; readonly rewrite: 'pasv' | 'epsv' } {
  if (exchange.answerAs === 227 && advertised !== undefined) return { answer: format227(advertised, port, eol), rewrite: 'pasv' };
  return { answer: format229(port, delimiter, eol), rewrite: exchange.answerAs === 227 ? 'pasv' : 'epsv' };
}

/**
 * FEAT lines of TLS features are always dropped from the server's reply: the client's TLS is
 * ftpmasq's, not the server's (an encrypted channel to the server would hide the 227). A site
 * with a certificate adds its own (`advertisedFeatures`). Matched on the feature name only.
 */
const TLS_FEATURES: ReadonlySet<string> = new Set(['AUTH', 'PBSZ', 'PROT', 'CCC']);

/** The feature name of a FEAT continuation line (" AUTH TLS" -> "AUTH"), upper-cased. */
export function featureName(line: Buffer): string {
  const text = line.toString('latin1').trim();
  const space = text.indexOf(' ');
  return (space === -1 ? text : text.slice(0, space)).toUpperCase();
}

/** A FEAT reply line the client must not see: TLS features, and EPSV where it is disabled. */
export function dropsFeatureLine(site: Pick<SitePolicy, 'epsv'>, line: Buffer): boolean {
  // RFC 2389: feature lines start with a space; the first and last lines carry the code.
  if (line[0] !== 0x20) return false;
  const name = featureName(line);
  return TLS_FEATURES.has(name) || (site.epsv === 'disable' && name === 'EPSV');
}

// ---- FTPS towards clients (RFC 4217) ------------------------------------------------------------

/** The settings of a site that decide its FTPS: `tls` absent without a certificate, `upstreamTls` absent when the server leg is plain. */
export type SecurityPolicy = Pick<SiteConfig, 'tls' | 'upstreamTls'>;

/**
 * With TLS towards the server, the server's protection is ftpmasq's (it sent PBSZ 0 and PROT P
 * itself): a client's PBSZ, PROT or CCC never goes upstream, even on a site without a certificate.
 */
function leftToServer(site: SecurityPolicy, reply: string): SecurityDecision {
  return site.upstreamTls === undefined ? { kind: 'forward' } : answer(reply);
}

/** What the session knows of its client's TLS when it decides. */
export interface SecurityFacts {
  /** The client's control connection is TLS (AUTH TLS done). */
  readonly controlTls: boolean;
  /** PBSZ was answered since AUTH TLS (RFC 4217 section 9: PROT needs it). */
  readonly pbszSeen: boolean;
}

export type SecurityDecision =
  | Refusal
  /** Answered by ftpmasq, nothing else changes. */
  | { readonly kind: 'answer'; readonly reply: string }
  /** Sent upstream as it came: a site without a certificate leaves these verbs to the server. */
  | { readonly kind: 'forward' }
  /** AUTH TLS: the reply, then the TLS handshake on the control connection. */
  | { readonly kind: 'start-tls'; readonly reply: string }
  | { readonly kind: 'pbsz'; readonly reply: string }
  | { readonly kind: 'prot'; readonly level: 'clear' | 'private'; readonly reply: string };

/** `AUTH SSL` and `AUTH TLS-C` are old names of `AUTH TLS` (RFC 4217 section 4, draft-murray). */
const AUTH_TLS_ARGUMENTS: ReadonlySet<string> = new Set(['TLS', 'SSL', 'TLS-C']);

function answer(reply: string): SecurityDecision {
  return { kind: 'answer', reply };
}

export function decideAuth(site: SecurityPolicy, argument: string, facts: SecurityFacts): SecurityDecision {
  if (site.tls === undefined) {
    // The control channel must stay readable, or the 227 could not be fixed.
    return refusal('auth_tls', '534 AUTH is not available through this ftpmasq proxy; continue without TLS.\r\n', { verb: 'AUTH' });
  }
  if (facts.controlTls) return answer('503 The control connection is already TLS.\r\n');
  if (!AUTH_TLS_ARGUMENTS.has(argument.toUpperCase())) {
    return answer('504 AUTH TLS is the only security mechanism of this server.\r\n');
  }
  return { kind: 'start-tls', reply: '234 AUTH TLS successful; start the TLS handshake.\r\n' };
}

export function decidePbsz(site: SecurityPolicy, argument: string, facts: SecurityFacts): SecurityDecision {
  if (site.tls === undefined) return leftToServer(site, '503 PBSZ needs AUTH TLS first.\r\n');
  if (!facts.controlTls) return answer('503 PBSZ needs AUTH TLS first.\r\n');
  if (!/^\d+$/.test(argument)) return answer('501 PBSZ takes a number; TLS needs PBSZ 0.\r\n');
  // RFC 4217 section 9: with TLS the buffer size is 0, whatever the client asked.
  return { kind: 'pbsz', reply: '200 PBSZ=0\r\n' };
}

export function decideProt(site: SecurityPolicy, argument: string, facts: SecurityFacts): SecurityDecision {
  const tls = site.tls;
  if (tls === undefined) return leftToServer(site, '503 PROT needs AUTH TLS first.\r\n');
  if (!facts.controlTls) return answer('503 PROT needs AUTH TLS first.\r\n');
  if (!facts.pbszSeen) return answer('503 PROT needs PBSZ first.\r\n');
  switch (argument.toUpperCase()) {
    case 'P':
      return { kind: 'prot', level: 'private', reply: '200 PROT now Private.\r\n' };
    case 'C':
      if (!tls.allowClearData) {
        return refusal('clear_data_refused', '534 PROT C refused: data connections must be encrypted here (PROT P).\r\n', { verb: 'PROT' });
      }
      return { kind: 'prot', level: 'clear', reply: '200 PROT now Clear.\r\n' };
    case 'S':
    case 'E':
      // RFC 2228: Safe and Confidential are levels TLS does not provide.
      return answer('536 PROT S and E are not supported with TLS; use P or C.\r\n');
    default:
      return answer('504 PROT takes C or P.\r\n');
  }
}

/** CCC (RFC 4217 section 6) would put the control channel back in clear text: refused. */
export function decideCcc(site: SecurityPolicy): SecurityDecision {
  if (site.tls === undefined) return leftToServer(site, '533 CCC refused: the connection to the server stays encrypted.\r\n');
  return refusal('ccc_refused', '533 CCC refused: the control connection stays encrypted.\r\n', { verb: 'CCC' });
}

/**
 * USER, PASS, ACCT: refused before AUTH TLS and never sent upstream with `clientTls: required`,
 * and in front of a TLS server unless `allowPlainClients` (credentials the server is to get
 * encrypted do not cross the client's network in clear).
 */
export function decideLogin(site: SecurityPolicy, verb: string, facts: SecurityFacts): SecurityDecision {
  const plainRefused = site.tls?.clientTls === 'required' || site.upstreamTls?.allowPlainClients === false;
  if (!plainRefused || facts.controlTls) return { kind: 'forward' };
  return refusal('tls_required', `530 TLS required: send AUTH TLS before ${verb}.\r\n`, { verb });
}

/** The features ftpmasq adds to the server's FEAT reply (RFC 4217 section 15): those of its own TLS. */
export function advertisedFeatures(site: SecurityPolicy): readonly string[] {
  return site.tls === undefined ? [] : ['AUTH TLS', 'PBSZ', 'PROT'];
}
