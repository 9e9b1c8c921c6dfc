import type { SiteConfig } from '../../config/types.js';
import type { DataConnector } from '../../data/data-connector.js';
import type { DataRelay } from '../../data/data-relay.js';
import type { ClientTlsSession } from '../../net/tls-session.js';
import type { Logger } from '../../observability/logger.js';
import type { RefusalReason, SiteMetrics } from '../../observability/metrics.js';
import type { ClientCommand } from '../../protocol/command.js';
import type { Refusal, SessionFacts } from '../../site/site-policy.js';
import type { Intent } from '../intents.js';

/** What a transfer's final reply waits for of the relay that carries its data. */
export type GatedRelay = Pick<DataRelay, 'isClosed' | 'toClientDone' | 'close'>;

/** What the handlers use of the session's data connector. */
export type DataPlanner = Pick<
  DataConnector,
  | 'acquirePort'
  | 'portCapacity'
  | 'preparePassive'
  | 'prepareActive'
  | 'takeActivePlan'
  | 'rollback'
  | 'connectActive'
  | 'settling'
  | 'takeStall'
  | 'abortTransfers'
  | 'takeTlsRefusal'
  | 'prepareKernelPassive'
  | 'transferReplied'
> & { readonly currentRelay: GatedRelay | undefined };

/**
 * What a command or reply handler may do to its session, and nothing else: the session passes
 * itself in this shape, and unit tests pass a recording fake. Handlers decide through the site
 * policy; they never touch a socket.
 */
export interface SessionScope {
  readonly site: SiteConfig;
  readonly metrics: SiteMetrics;
  readonly log: Logger;
  readonly data: DataPlanner;
  /** Process-wide: the diagnosis of a misconfigured upstream is logged once, not per session. */
  readonly diagnosis: { unroutablePasvWarned: boolean };
  /** FTPS towards the client; undefined on a site without a certificate. */
  readonly clientTls: ClientTlsSession | undefined;
  facts(): SessionFacts;
  isClosed(): boolean;
  /** The upstream control connection's address, which every data connection goes to. */
  upstreamAddress(): string;

  /** Sends the line upstream; `intent` says what its reply will mean. */
  forward(line: Buffer, intent: Intent): void;
  /** A reply of ftpmasq's own, sent after the replies still owed for earlier commands. */
  answerLocally(reply: string): void;
  /** Counts and logs a refusal (the reply is separate: `answerLocally`). */
  refuse(reason: RefusalReason, details?: Readonly<Record<string, unknown>>): void;
  noteEpsvAll(): void;
  /**
   * Answers `reply` (234) in its turn; as it is written the client's control stream becomes TLS.
   * Nothing the client sent after this command and before that is handled.
   */
  startTls(reply: string): void;
  /** Later client commands wait (and the client is not read) until `releaseCommands()`. */
  holdCommands(): void;
  releaseCommands(): void;

  /** Sends a reply line to the client; the command at the head still awaits its final reply. */
  send(line: Buffer): void;
  /** Sends the final reply to the command at the head of the queue, which is then done. */
  finish(reply: string | Buffer): void;
  /** Sends the server's reply lines as they came, and the head is done. */
  passOn(lines: readonly Buffer[]): void;
  /** A transfer command sent upstream still awaits its final reply. */
  transferPending(): boolean;
  /**
   * The last line of the reply to a STAT sent during the transfer at the head, come before the
   * transfer's own final reply: sent, and that STAT is done. False when no such STAT awaits one.
   */
  finishStatusDuringTransfer(line: Buffer): boolean;
}

export type CommandHandler = (command: ClientCommand, scope: SessionScope) => void;

/** A refusal the site policy decided: counted, logged, and answered in order. */
export function applyRefusal(scope: SessionScope, refusal: Refusal): void {
  scope.refuse(refusal.reason, refusal.details);
  scope.answerLocally(refusal.reply);
}

/**
 * ftpmasq's answer in place of a server reply, behind the Telnet commands the server wrote before
 * its code (ProFTPD's IAC DONT x to a client's IAC WILL x): the client still gets them.
 */
export function withPrefix(telnetPrefix: Buffer, answer: string | Buffer): string | Buffer {
  if (telnetPrefix.length === 0) return answer;
  return Buffer.concat([telnetPrefix, typeof answer === 'string' ? Buffer.from(answer, 'latin1') : answer]);
}

/** What ftpmasq sends upstream for a client's PORT/EPRT, and for an EPSV it translates. */
export const PASV_LINE: Buffer = Buffer.from('PASV\r\n');
