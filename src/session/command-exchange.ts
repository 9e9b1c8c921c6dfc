import type { DataConnector } from '../data/data-connector.js';
import type { Conn } from '../net/conn.js';
import type { ClientTlsSession } from '../net/tls-session.js';
import type { Logger } from '../observability/logger.js';
import type { RefusalReason } from '../observability/metrics.js';
import { parseCommand } from '../protocol/command.js';
import { readUrgentAbort } from '../protocol/urgent-abort.js';
import type { SessionFacts } from '../site/site-policy.js';
import type { ControlChannel } from './control-channel.js';
import type { SessionContext } from './control-session.js';
import { handlerFor } from './handlers/command-table.js';
import type { CommandHandler, SessionScope } from './handlers/scope.js';
import { IntentQueue, TRANSFER_VERBS, type Intent } from './intents.js';
import { SessionActivity } from './session-activity.js';

export type { SessionActivity };
import { MAX_HELD_REPLY_BYTES, MAX_HELD_REPLY_LINES, ReplyRouter } from './reply-router.js';

/**
 * Commands awaiting a reply before ftpmasq stops reading the client. Without it a client that
 * pipelines commands ftpmasq answers itself (AUTH ...) behind one slow upstream reply would grow
 * the queue without bound.
 */
export const MAX_PENDING_COMMANDS = 256;

/** The session ends with it when a held multi-line 227/229 passes the router's limits. */
export const HELD_REPLY_TOO_LONG = '421 Service not available, upstream sent a passive reply that is too long.\r\n';

export interface CommandExchangeOptions {
  readonly context: SessionContext;
  readonly log: Logger;
  /** The client's control connection, for the facts the policy decides on. */
  readonly conn: Conn;
  readonly client: ControlChannel;
  readonly data: DataConnector;
  readonly isClosed: () => boolean;
  /** The session's one teardown, for a reply that ends it (the drain's 421). */
  readonly close: (reason: string, lastReply: Buffer) => void;
  /** The last line of a reply from the upstream passed, with its code (the session's timers watch them). */
  readonly onReply: (code: number) => void;
  /** A command went upstream when none awaited a reply: the upstream owes one from now. */
  readonly onAwaitingReply: () => void;
  /** A command got its final reply: the session may have nothing in flight now. */
  readonly onCompleted: () => void;
  /** FTPS towards the client, on a site with a certificate. */
  readonly clientTls?: ClientTlsSession | undefined;
  /** Runs as the 234 to AUTH TLS is written: the session swaps the client stream to TLS. */
  readonly upgradeClient?: () => void;
  /** Before the upstream exists (user routing): the handler for a verb, or undefined for the usual one. */
  readonly handlerBeforeUpstream?: (verb: string) => CommandHandler | undefined;
}

/**
 * The command/reply exchange of one session: client commands to their handlers (a table by
 * verb), upstream replies by the intent at the head of the FIFO, and ftpmasq's own replies in
 * their turn. It is the SessionScope the handlers act through; the session owns it, both
 * channels, the timers and the one close.
 */
export class CommandExchange implements SessionScope {
  readonly site: SessionScope['site'];
  readonly metrics: SessionScope['metrics'];
  readonly log: Logger;
  readonly data: DataConnector;
  readonly diagnosis: SessionScope['diagnosis'];
  readonly clientTls: ClientTlsSession | undefined;
  private readonly pending = new IntentQueue();
  private readonly router = new ReplyRouter(
    (code) => {
      this.activity.replied(code, this.pending.head);
      this.options.onReply(code);
    },
    (held) => {
      this.metrics.upstreamError('bad_reply');
      this.log.error({ ...held, maxLines: MAX_HELD_REPLY_LINES, maxBytes: MAX_HELD_REPLY_BYTES }, 'upstream passive reply too long');
      this.options.close('upstream reply too long', Buffer.from(HELD_REPLY_TOO_LONG, 'latin1'));
    },
  );
  private readonly client: ControlChannel;
  private upstream: ControlChannel | undefined;
  private upstreamConn: Conn | undefined;
  private epsvAllSeen = false;
  private unblockAfterActiveReply = false;
  /** Set when a last reply is queued (the drain's 421): the session ends when it goes out, and no command is handled. */
  private closingReason: string | undefined;
  /** What the live view shows of this session. */
  readonly activity: SessionActivity;

  constructor(private readonly options: CommandExchangeOptions) {
    this.site = options.context.site;
    this.metrics = options.context.metrics;
    this.diagnosis = options.context.diagnosis;
    this.log = options.log;
    this.data = options.data;
    this.client = options.client;
    this.clientTls = options.clientTls;
    this.activity = new SessionActivity({
      site: this.site.name,
      client: options.conn.peer,
      upstreamAttached: () => this.upstream !== undefined,
      isQuiet: () => this.isQuiet,
      isClosing: () => this.closingReason !== undefined || options.isClosed(),
      head: () => this.pending.head,
      dataBusy: () => options.data.isBusy,
      transferProgress: () => options.data.transferProgress,
    });
  }

  /** Nothing awaits a reply (a reply of ftpmasq's own waiting its turn included). */
  get isQuiet(): boolean {
    return this.pending.length === 0;
  }

  /** A command sent upstream (the greeting aside) awaits its reply. */
  get owesReply(): boolean {
    const head = this.pending.head;
    return head !== undefined && head.kind !== 'greeting' && head.kind !== 'local';
  }

  attachUpstream(channel: ControlChannel, conn: Conn): void {
    this.upstream = channel;
    this.upstreamConn = conn;
  }

  onClientLine(line: Buffer): void {
    if (this.closingReason !== undefined) return;
    const parsed = parseCommand(line);
    const urgentAbort = parsed.ok ? undefined : readUrgentAbort(line);
    if (urgentAbort !== undefined) {
      this.handlerOf('ABOR')(urgentAbort, this);
      return;
    }
    if (!parsed.ok) {
      // A line the server could read as another command than ftpmasq would (PORT\rh,p: PORT to
      // ProFTPD): answered here, in its turn, and never sent upstream. docs/DESIGN.md, "Command framing".
      this.refuse('ambiguous_command', { why: parsed.reason });
      this.answerLocally('500 Syntax error, command unrecognized.\r\n');
      return;
    }
    const command = parsed.value;
    if (TRANSFER_VERBS.has(command.verb) && this.pending.hasActive()) {
      // PORT and RETR in one write: the RETR must wait until the PASV sent for the PORT is
      // answered, or it would reach the server before ftpmasq knows where to connect.
      this.client.putBack(line);
      this.client.hold();
      this.unblockAfterActiveReply = true;
      return;
    }
    if (this.log.isLevelEnabled('debug')) this.log.debug({ verb: command.verb }, 'command');
    this.handlerOf(command.verb)(command, this);
    if (this.pending.length > MAX_PENDING_COMMANDS) this.client.pause('pipeline');
  }

  /** A client line over the cap, already dropped: 500 in its turn; the session goes on. */
  onClientOverlongLine(limit: number): void {
    if (this.closingReason !== undefined) return;
    this.refuse('line_too_long', { limit });
    this.answerLocally(`500 Command line too long (over ${limit} bytes).\r\n`);
    if (this.pending.length > MAX_PENDING_COMMANDS) this.client.pause('pipeline');
  }

  /** Returns the work still running for this line (a port being bound, a relay flushing), if any. */
  onReplyLine(line: Buffer): Promise<void> | undefined {
    return this.router.route(line, this.pending.head, this);
  }

  /**
   * Answers with `reply` after the replies still owed, then the session ends (gracefully, so the
   * reply arrives); nothing the client sends meanwhile is handled.
   */
  answerLastly(reply: string, reason: string): void {
    if (this.closingReason !== undefined) return;
    this.closingReason = reason;
    this.client.pause('closing');
    const bytes = Buffer.from(reply, 'latin1');
    if (this.pending.queueLocal(bytes, { closes: true })) this.options.close(reason, bytes);
  }

  // ---- SessionScope ------------------------------------------------------------------------

  facts(): SessionFacts {
    const { conn, context } = this.options;
    return { clientAddress: conn.peer.host, ownAddress: conn.local.host, epsvAllSeen: this.epsvAllSeen, publicAddress: context.publicAddress?.() };
  }

  isClosed(): boolean {
    return this.options.isClosed();
  }

  upstreamAddress(): string {
    return this.upstreamConn?.peer.host ?? '';
  }

  forward(line: Buffer, intent: Intent): void {
    const upstream = this.upstream;
    if (upstream === undefined) return;
    const owed = this.owesReply;
    this.pending.push(intent);
    if (!owed) this.options.onAwaitingReply();
    if (!upstream.write(line)) this.client.pause('backpressure');
  }

  answerLocally(reply: string): void {
    const bytes = Buffer.from(reply, 'latin1');
    if (this.pending.queueLocal(bytes)) this.send(bytes);
  }

  /** Every refusal is counted and logged at warn, with what was refused. */
  refuse(reason: RefusalReason, details: Readonly<Record<string, unknown>> = {}): void {
    this.metrics.refuse(reason);
    this.log.warn({ reason, ...details }, 'refused');
  }

  noteEpsvAll(): void {
    this.epsvAllSeen = true;
  }

  startTls(reply: string): void {
    const upgrade = (): void => this.options.upgradeClient?.();
    const bytes = Buffer.from(reply, 'latin1');
    // Held until the upgrade: a line pipelined behind AUTH TLS must never be handled.
    this.client.hold();
    if (this.pending.queueLocal(bytes, { closes: false, afterSent: upgrade })) {
      this.send(bytes);
      upgrade();
    }
  }

  holdCommands(): void {
    this.client.hold();
  }

  releaseCommands(): void {
    if (!this.isClosed() && this.closingReason === undefined) this.client.release();
  }

  send(line: Buffer): void {
    if (this.isClosed()) return;
    if (!this.client.write(line) && !this.client.isPausedFor('replies-unread')) {
      this.upstream?.pause('backpressure');
      this.client.pause('replies-unread');
      this.log.debug('client not reading its replies: reading paused');
    }
  }

  finish(reply: string | Buffer): void {
    this.send(typeof reply === 'string' ? Buffer.from(reply, 'latin1') : reply);
    this.completeHead();
  }

  passOn(lines: readonly Buffer[]): void {
    for (const line of lines) this.send(line);
    this.completeHead();
  }

  private handlerOf(verb: string): CommandHandler {
    const early = this.upstream === undefined ? this.options.handlerBeforeUpstream?.(verb) : undefined;
    return early ?? handlerFor(verb);
  }

  transferPending(): boolean {
    return this.pending.hasTransfer();
  }

  finishStatusDuringTransfer(line: Buffer): boolean {
    if (!this.pending.completeStatusBehindTransfer()) return false;
    this.send(line);
    this.options.onCompleted();
    return true;
  }

  private completeHead(): void {
    const { completed, due } = this.pending.completeHead();
    if (completed?.kind === 'active' && this.unblockAfterActiveReply) {
      this.unblockAfterActiveReply = false;
      // After this reply is out: the waiting commands may answer locally or block again.
      queueMicrotask(() => this.releaseCommands());
    }
    for (const local of due) {
      if (local.closes) {
        this.options.close(this.closingReason ?? 'closing', local.reply);
        return;
      }
      this.send(local.reply);
      local.afterSent?.();
    }
    if (this.pending.length <= MAX_PENDING_COMMANDS / 2) this.client.resume('pipeline');
    this.options.onCompleted();
  }
}
