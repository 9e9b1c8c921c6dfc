/**
 * What one session is doing, for the live view (`GET /sessions`): read-only facts its pieces
 * already hold, gathered on request. Nothing here is on the data path: the command exchange tells
 * it each final reply (with the intent it answers), and the rest is read when a view is asked for.
 */
import type { RelayProgress } from '../data/data-relay.js';
import type { ConnAddress } from '../net/conn.js';
import type { Intent } from './intents.js';

/**
 * - connecting: the upstream control connection is being dialled;
 * - greeting: waiting for the server's first reply;
 * - login: greeted, no 230 yet;
 * - idle: logged in, nothing in flight;
 * - command: a command awaits its reply;
 * - transfer: a data connection is open or being made, or a transfer command awaits its reply;
 * - closing: the session's last reply is queued (a drain) or sent.
 */
export type SessionState = 'connecting' | 'greeting' | 'login' | 'idle' | 'command' | 'transfer' | 'closing';

/** Where the activity reads what it does not record itself. */
export interface ActivitySources {
  readonly site: string;
  readonly client: ConnAddress;
  readonly upstreamAttached: () => boolean;
  /** Nothing awaits a reply. */
  readonly isQuiet: () => boolean;
  readonly isClosing: () => boolean;
  /** The intent at the head of the queue: the command whose reply comes next. */
  readonly head: () => Intent | undefined;
  readonly dataBusy: () => boolean;
  readonly transferProgress: () => RelayProgress | undefined;
}

/** A session as the live view sees it: raw bytes, rendered as safe text by the view. */
export interface SessionFacts {
  readonly site: string;
  readonly client: ConnAddress;
  /** Wall clock, ms since the epoch. */
  readonly startedAt: number;
  readonly state: SessionState;
  /** The USER argument the server accepted (its 230), never anything of PASS or ACCT. */
  readonly user: Buffer | undefined;
  /** The transfer command awaiting its final reply. */
  readonly transferCommand: { readonly verb: string; readonly argument: Buffer } | undefined;
  /** The open data connection's bytes so far. */
  readonly progress: RelayProgress | undefined;
}

/** 230 User logged in; 331/332 need a password or an account for the name just given (RFC 959 5.4). */
const LOGGED_IN = 230;
const NEEDS_PASSWORD = 331;
const NEEDS_ACCOUNT = 332;

export class SessionActivity {
  readonly startedAt = Date.now();
  private greeted = false;
  private loggedIn = false;
  /** The name of the last USER the server answered 331/332: the PASS or ACCT that follows logs it in. */
  private offeredUser: Buffer | undefined;
  private acceptedUser: Buffer | undefined;

  constructor(private readonly sources: ActivitySources) {}

  /**
   * The last line of a reply, with the intent at the head of the queue (the command it answers).
   * The user is taken from the USER command the login belongs to, so pipelined commands cannot
   * make the view name another user than the one the server accepted.
   */
  replied(code: number, head: Intent | undefined): void {
    this.greeted = true;
    if (code < 200) return;
    const user = head?.kind === 'plain' ? head.user : undefined;
    if (user !== undefined) {
      this.offeredUser = code === NEEDS_PASSWORD || code === NEEDS_ACCOUNT ? user : undefined;
      if (code === LOGGED_IN) this.login(user);
    } else if (code === LOGGED_IN) {
      this.login(this.offeredUser);
    }
  }

  read(): SessionFacts {
    const { site, client, head, transferProgress } = this.sources;
    const pending = head();
    const command = pending?.kind === 'transfer' ? pending.command : undefined;
    return {
      site,
      client,
      startedAt: this.startedAt,
      state: this.state(pending),
      user: this.loggedIn ? this.acceptedUser : undefined,
      transferCommand: command === undefined ? undefined : { verb: command.verb, argument: command.argument },
      progress: transferProgress(),
    };
  }

  private login(user: Buffer | undefined): void {
    this.loggedIn = true;
    this.acceptedUser = user;
    this.offeredUser = undefined;
  }

  private state(head: Intent | undefined): SessionState {
    const sources = this.sources;
    if (sources.isClosing()) return 'closing';
    if (!sources.upstreamAttached()) return 'connecting';
    if (!this.greeted) return 'greeting';
    if (sources.dataBusy() || head?.kind === 'transfer') return 'transfer';
    if (!this.loggedIn) return 'login';
    return sources.isQuiet() ? 'idle' : 'command';
  }
}
