/**
 * The probe's judgement: does this server need ftpmasq, for clients that reach it the way the
 * probe did, and with which command line. Pure: observations in, a diagnosis out.
 *
 * The two kinds of client decide it:
 * - trusting clients (curl < 7.74, Python ftplib < 3.9.3, many libraries and devices) dial the
 *   address inside the 227;
 * - careful clients (curl >= 7.74, ftplib >= 3.9.3, lftp's default) dial the 227's port at the
 *   address of the control connection, as EPSV clients always do (RFC 2428 section 3).
 * A server is fine when both kinds work. A 227 that names an unroutable address other than the
 * one the probe connected to is a problem even when it worked from here: the probe may stand
 * on the server's own network, where clients on the Internet do not.
 */
import ipaddr from 'ipaddr.js';
import { isSameHost, isUnroutable, normalizeAddress } from '../protocol/address-policy.js';
import type { DataAttempt, ProbeObservations, ProbeRun } from './observations.js';

export type Verdict = 'fine' | 'needs-ftpmasq' | 'inconclusive';

export type Problem =
  /** The 227 names an unroutable address that is not the control connection's address. */
  | 'advertises-private-address'
  /** A data connection to the 227's address failed: trusting clients fail. */
  | 'advertised-address-unreachable'
  /** A data connection to the 227's port at the control address failed: careful clients fail. */
  | 'control-address-data-unreachable'
  /** No data connection worked at all. */
  | 'no-data-connection'
  | 'pasv-refused'
  | 'pasv-unreadable'
  | 'cannot-connect'
  | 'no-greeting'
  | 'login-failed'
  | 'session-failed';

export interface CommandSuggestion {
  readonly argv: readonly string[];
  readonly why: string;
}

export interface Recommendation {
  readonly primary: CommandSuggestion;
  /** Where ftpmasq has to run and what to forward to it. */
  readonly placement: string;
  readonly alternative: CommandSuggestion | undefined;
  /** The fix on the server itself, when its 227 address is the problem. */
  readonly serverFix: string | undefined;
}

export interface Diagnosis {
  readonly verdict: Verdict;
  /** 0 when fine, 1 otherwise (the CLI's exit code). */
  readonly exitCode: 0 | 1;
  readonly headline: string;
  readonly problems: readonly Problem[];
  /** Why, one sentence each. */
  readonly reasons: readonly string[];
  readonly notes: readonly string[];
  readonly recommendation: Recommendation | undefined;
}

/** ftpmasq's own passive range in a recommended command line (the README's example). */
export const RECOMMENDED_PASSIVE_PORTS = '60000-60999';
/** Stands for the public address when the probe could not see it. */
export const PUBLIC_ADDRESS_PLACEHOLDER = 'PUBLIC_IP';

export interface AddressFacts {
  readonly address: string;
  /** ipaddr.js's range name: private, loopback, reserved, carrierGradeNat, unicast ... */
  readonly range: string;
  readonly unroutable: boolean;
}

/** Ranges that name this machine or a whole network: a 227 naming one cannot mean the server. */
const NOT_A_SERVER_RANGES = new Set(['unspecified', 'loopback', 'multicast', 'broadcast']);

/** Whether an address can be a server's own address as seen from elsewhere (its private address, say). */
export function canBeServerAddress(facts: AddressFacts): boolean {
  return facts.range !== 'invalid' && !NOT_A_SERVER_RANGES.has(facts.range);
}

export function describeAddress(address: string): AddressFacts {
  const range = ipaddr.isValid(address) ? ipaddr.process(address).range() : 'invalid';
  return { address: normalizeAddress(address), range, unroutable: isUnroutable(address) };
}

/** "private (unroutable)", "unicast (routable)" ... for the report. */
export function describeRange(facts: AddressFacts): string {
  return `${facts.range}, ${facts.unroutable ? 'not routable on the Internet' : 'routable'}`;
}

function dataWorked(attempt: DataAttempt): boolean {
  return attempt.outcome === 'ok';
}

function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The fix on the server, named for the server the greeting announces. */
export function serverFixFor(greeting: readonly string[], publicAddress: string): string {
  const text = greeting.join(' ');
  if (/proftpd/i.test(text)) return `ProFTPD: MasqueradeAddress ${publicAddress} (in proftpd.conf), then restart ProFTPD`;
  if (/vsftpd/i.test(text)) return `vsftpd: pasv_address=${publicAddress} (in vsftpd.conf), then restart vsftpd`;
  if (/pure-?ftpd/i.test(text)) return `Pure-FTPd: ForcePassiveIP ${publicAddress}, then restart Pure-FTPd`;
  return `configure the server to announce ${publicAddress} in its 227 replies (ProFTPD MasqueradeAddress, vsftpd pasv_address, Pure-FTPd ForcePassiveIP)`;
}

function recommend(
  observations: ProbeObservations,
  advertisedHost: string,
  options: { upstreamIsAdvertised: boolean; publicAddress: string; rewriteAlternative: boolean; serverFix: boolean },
): Recommendation {
  const { subject } = observations;
  const upstreamHost = options.upstreamIsAdvertised ? advertisedHost : subject.host;
  const upstream = formatHostPort(upstreamHost, subject.port);
  const listen = `0.0.0.0:${subject.port}`;
  const epsv = observations.epsv.outcome === 'refused' ? ['--epsv', 'translate'] : [];
  const base = ['npx', 'ftpmasq', '--listen', listen, '--upstream', upstream, '--public-address', options.publicAddress];
  const primary: CommandSuggestion = {
    argv: [...base, '--passive-ports', RECOMMENDED_PASSIVE_PORTS, ...epsv],
    why:
      "relay mode, the default: every data connection goes through ftpmasq's own passive ports, so clients that trust the 227 and clients that ignore it both work" +
      (epsv.length > 0 ? '; --epsv translate answers EPSV with a PASV upstream, since this server refuses EPSV' : ''),
  };
  const alternative: CommandSuggestion | undefined = options.rewriteAlternative
    ? {
        argv: [...base, '--mode', 'rewrite', ...epsv],
        why: `rewrite mode: your NAT already forwards the server's passive ports (the probe reached ${formatHostPort(observations.controlAddress, portOf(observations.dataToControl))}), so it is enough to fix the 227 address; data keeps going through the NAT`,
      }
    : undefined;
  const placement =
    `Run it on a host that reaches ${upstream} and that clients reach as ${options.publicAddress}, ` +
    `and forward TCP ${subject.port} and ${RECOMMENDED_PASSIVE_PORTS} to ftpmasq instead of to the server`;
  return {
    primary,
    placement,
    alternative,
    serverFix: options.serverFix ? serverFixFor(observations.greeting, options.publicAddress) : undefined,
  };
}

function portOf(attempt: DataAttempt): number {
  return attempt.target?.port ?? 0;
}

function describeAttempt(attempt: DataAttempt): string {
  switch (attempt.outcome) {
    case 'ok':
      return 'worked';
    case 'connect-failed':
      return `failed (${attempt.error})`;
    case 'transfer-failed':
      return `connected, but the LIST failed (${attempt.reply})`;
    case 'not-tried':
      return `was not tried (${attempt.why})`;
  }
}

export function diagnoseProbe(run: ProbeRun): Diagnosis {
  if (!run.complete) {
    const problem = ({ connect: 'cannot-connect', greeting: 'no-greeting', login: 'login-failed', session: 'session-failed' } as const)[run.stage];
    const where = formatHostPort(run.subject.host, run.subject.port);
    const headline = {
      connect: `cannot connect to ${where}`,
      greeting: `${where} accepted the connection but sent no FTP greeting`,
      login: `cannot log in to ${where} as ${run.subject.user}`,
      session: `the FTP session with ${where} failed`,
    }[run.stage];
    return {
      verdict: 'inconclusive',
      exitCode: 1,
      headline,
      problems: [problem],
      reasons: [run.error],
      notes: [],
      recommendation: undefined,
    };
  }
  const observations = run.observations;
  const { pasv, controlAddress } = observations;
  const notes: string[] = [];
  if (observations.epsv.outcome === 'refused') {
    notes.push(`the server refuses EPSV (${observations.epsv.reply}): EPSV-only clients (EPSV ALL, IPv6) cannot transfer`);
  }
  if (pasv.outcome !== 'ok') {
    const refused = pasv.outcome === 'refused';
    return {
      verdict: 'inconclusive',
      exitCode: 1,
      headline: refused ? 'the server refuses PASV' : 'the server\'s 227 reply cannot be read',
      problems: [refused ? 'pasv-refused' : 'pasv-unreadable'],
      reasons: [
        refused
          ? `PASV was answered with ${pasv.reply}: clients that only speak PASV cannot transfer, and ftpmasq passes PASV to the server, so it cannot help them`
          : `the 227 reply ${JSON.stringify(pasv.reply)} has no address the probe can read (${pasv.reason})`,
      ],
      notes,
      recommendation: undefined,
    };
  }

  const advertised = describeAddress(pasv.advertised.host);
  const control = describeAddress(controlAddress);
  const same = isSameHost(advertised.address, control.address);
  const toAdvertised = dataWorked(observations.dataToAdvertised);
  const toControl = same ? toAdvertised : dataWorked(observations.dataToControl);
  const problems: Problem[] = [];
  const reasons: string[] = [];

  if (same) {
    if (toAdvertised) {
      if (control.unroutable) {
        notes.push(
          `${control.address} is ${control.range}, not routable on the Internet: the verdict holds for clients that reach the server at ${control.address}, as the probe did. ` +
            'Clients that reach it through NAT at another address get this same 227: probe that address too',
        );
      }
      return {
        verdict: 'fine',
        exitCode: 0,
        headline: `fine: the 227 names ${advertised.address}, the address the probe connected to, and data connections to it work`,
        problems,
        reasons,
        notes,
        recommendation: undefined,
      };
    }
    problems.push('no-data-connection');
    reasons.push(
      `a data connection to the 227's address ${advertised.address} (also the control address) ${describeAttempt(observations.dataToAdvertised)}: ` +
        "the server's passive ports are not reachable from here (a firewall, or a NAT that forwards only the control port)",
    );
    return {
      verdict: 'needs-ftpmasq',
      exitCode: 1,
      headline: 'data connections fail: open the server\'s passive ports, or put ftpmasq in front of it',
      problems,
      reasons,
      notes,
      recommendation: recommend(observations, advertised.address, {
        upstreamIsAdvertised: false,
        // The control address is the server's own (or a NAT's that forwards only the control
        // port): which address ftpmasq can take is the operator's call.
        publicAddress: PUBLIC_ADDRESS_PLACEHOLDER,
        rewriteAlternative: false,
        serverFix: false,
      }),
    };
  }

  // The 227 names another address than the one the probe connected to.
  if (advertised.unroutable) {
    problems.push('advertises-private-address');
    reasons.push(
      `the 227 names ${advertised.address} (${advertised.range}), not ${control.address}, the address clients connect to: ` +
        `clients that trust the 227 (curl < 7.74, Python ftplib < 3.9.3) dial ${advertised.address} and fail` +
        (toAdvertised ? ` (it worked from here only because this machine reaches ${advertised.address})` : ''),
    );
  }
  if (!toAdvertised && !advertised.unroutable) {
    problems.push('advertised-address-unreachable');
    reasons.push(
      `a data connection to the 227's address ${formatHostPort(advertised.address, portOf(observations.dataToAdvertised))} ${describeAttempt(observations.dataToAdvertised)}: clients that trust the 227 fail`,
    );
  } else if (!toAdvertised) {
    const attempt = observations.dataToAdvertised;
    const target = formatHostPort(advertised.address, portOf(attempt));
    reasons.push(
      attempt.outcome === 'not-tried'
        ? `the probe did not dial ${target}: ${attempt.why}`
        : `a data connection to ${target} ${describeAttempt(attempt)}, as it does for those clients`,
    );
  }
  if (!toControl) {
    problems.push(toAdvertised ? 'control-address-data-unreachable' : 'no-data-connection');
    reasons.push(
      `a data connection to the 227's port at the control address ${formatHostPort(control.address, portOf(observations.dataToControl))} ${describeAttempt(observations.dataToControl)}: ` +
        'clients that ignore the 227 address (curl >= 7.74, ftplib >= 3.9.3, EPSV clients) fail too',
    );
  }
  if (problems.length === 0) {
    notes.push(
      `the 227 names ${advertised.address}, not the control address ${control.address}; data connections to both worked from here`,
    );
    return {
      verdict: 'fine',
      exitCode: 0,
      headline: 'fine: data connections work both to the 227\'s address and to the control address',
      problems,
      reasons,
      notes,
      recommendation: undefined,
    };
  }
  // Clients reach the server at the address the probe connected to: ftpmasq takes it over.
  const publicAddress = control.address;
  return {
    verdict: 'needs-ftpmasq',
    exitCode: 1,
    headline: toControl
      ? `needs ftpmasq: the 227 names ${advertised.address}, which clients connecting to ${control.address} cannot use`
      : 'needs ftpmasq: data connections fail from here',
    problems,
    reasons,
    notes,
    recommendation: recommend(observations, advertised.address, {
      // The server's private address, as its 227 tells, is where ftpmasq finds it; 0.0.0.0 or
      // 127.0.0.1 would be ftpmasq's own host, so the address the probe used is named instead.
      upstreamIsAdvertised: advertised.unroutable && canBeServerAddress(advertised),
      publicAddress,
      rewriteAlternative: toControl,
      serverFix: toControl,
    }),
  };
}
