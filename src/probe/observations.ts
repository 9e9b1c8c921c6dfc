/**
 * What `ftpmasq probe` saw, as plain data: filled in by run-probe.ts (the I/O), judged by
 * diagnose.ts and rendered by format-report.ts (both pure).
 */
import type { HostPort } from '../protocol/data-addresses.js';

/** One attempt to open a passive data connection and list the directory over it. */
export type DataAttempt =
  | { readonly outcome: 'ok'; readonly target: HostPort; readonly reply: string; readonly bytes: number }
  /** The TCP connect failed: `error` is the errno code (ENETUNREACH, ECONNREFUSED, ETIMEDOUT ...). */
  | { readonly outcome: 'connect-failed'; readonly target: HostPort; readonly error: string }
  /** Connected, but the server refused or broke off the LIST. */
  | { readonly outcome: 'transfer-failed'; readonly target: HostPort; readonly reply: string }
  | { readonly outcome: 'not-tried'; readonly target: HostPort | undefined; readonly why: string };

export type PassiveReply =
  | { readonly outcome: 'ok'; readonly reply: string; readonly advertised: HostPort }
  | { readonly outcome: 'refused'; readonly reply: string }
  | { readonly outcome: 'unreadable'; readonly reply: string; readonly reason: string };

export type ExtendedPassiveReply =
  | { readonly outcome: 'ok'; readonly reply: string; readonly port: number }
  | { readonly outcome: 'refused'; readonly reply: string }
  | { readonly outcome: 'unreadable'; readonly reply: string; readonly reason: string };

/** The probe's target without the password. */
export interface ProbeSubject {
  readonly host: string;
  readonly port: number;
  readonly user: string;
}

export interface ProbeObservations {
  readonly subject: ProbeSubject;
  /** The server's address of the control connection (the URL's host, resolved). */
  readonly controlAddress: string;
  /** The probe's own address on the control connection. */
  readonly localAddress: string;
  readonly greeting: readonly string[];
  readonly login: string;
  /** The FEAT reply's lines; the feature lines start with a space (RFC 2389). */
  readonly feat: { readonly code: number; readonly lines: readonly string[] };
  readonly pasv: PassiveReply;
  /** A data connection to the address and port the 227 names. */
  readonly dataToAdvertised: DataAttempt;
  /**
   * A data connection to the port of a second 227, at the control connection's address: what
   * careful clients (curl >= 7.74, ftplib >= 3.9.3) and ftpmasq itself do.
   */
  readonly dataToControl: DataAttempt;
  readonly epsv: ExtendedPassiveReply;
  /** A data connection to the 229's port at the control connection's address (RFC 2428). */
  readonly epsvData: DataAttempt;
}

export type ProbeStage = 'connect' | 'greeting' | 'login' | 'session';

export type ProbeRun =
  | { readonly complete: true; readonly observations: ProbeObservations }
  | {
      readonly complete: false;
      readonly subject: ProbeSubject;
      readonly stage: ProbeStage;
      readonly error: string;
      readonly controlAddress?: string;
      readonly greeting?: readonly string[];
    };
