import { performance } from 'node:perf_hooks';
import type { SiteConfig } from '../config/types.js';
import { DataConnector } from '../data/data-connector.js';
import type { PassivePortPool } from '../data/passive-port-pool.js';
import { tuneControlStream, type Conn } from '../net/conn.js';
import { dialConn } from '../net/dial.js';
import type { Logger } from '../observability/logger.js';
import type { RefusalReason, SiteMetrics } from '../observability/metrics.js';
import { parseCommand } from '../protocol/command.js';
import { ReplyTracker, isPreliminary } from '../protocol/reply-tracker.js';
import { ControlChannel } from './control-channel.js';
import { handlerFor } from './handlers/command-table.js';
import { passFeatureLine } from './handlers/features.js';
import { answerDataSetupReply } from './handlers/passive.js';
import type { SessionScope } from './handlers/scope.js';
import { answerTransferReply } from './handlers/transfer.js';
import { TRANSFER_VERBS, type Intent } from './intents.js';

/** Shared by all sessions of one daemon. */
export interface SessionContext {
  /** The site snapshot the session started with; a reload never changes it. */
  readonly site: SiteConfig;
  readonly pool: PassivePortPool;
  readonly metrics: SiteMetrics;
  readonly logger: Logger;
  /** Process-wide: the diagnosis of a misconfigured upstream is logged once, not per session. */
  readonly diagnosis: { unroutablePasvWarned: boolean };
}

/**
 * Commands awaiting a reply before ftpmasq stops reading the client. Without it a client that
 * pipelines commands ftpmasq answers itself (AUTH ...) behind one slow upstream reply would grow
 * the queue without bound.
 */
const MAX_PENDING_COMMANDS = 256;

/** How long a closing session waits for the peer to take its last reply before destroying. */
const CLOSE_GRACE_MS = 2000;

let sessionCounter = 0;

/**
 * One client control connection and everything it owns: the upstream control connection, the
 * queue of commands awaiting replies (intents) and the data connector. It routes lines between
 * the two channels: client commands to their handlers, upstream replies by the intent at the head
 * of the queue. `close()` is the single teardown path.
 */
export class ControlSession {
  readonly id: string;
  private readonly startedAt = performance.now();
  private readonly log: Logger;
  private readonly client: ControlChannel;
  private upstream: ControlChannel | undefined;
  private upstreamConn: Conn | undefined;
  private readonly replies = new ReplyTracker();
  private readonly pending: Intent[] = [{ kind: 'greeting' }];
  /** Lines of a 227/229 reply held until its last line, to be answered as one. */
  private heldReply: Buffer[] = [];
  private readonly data: DataConnector;
  private readonly scope: SessionScope;
  private epsvAllSeen = false;
  private unblockAfterActiveReply = false;
  private closed = false;
  private halfCloseTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly conn: Conn,
    private readonly context: SessionContext,
    private readonly onClosed: (session: ControlSession) => void,
  ) {
    this.id = (++sessionCounter).toString(36);
    this.log = context.logger.child({ session: this.id });
    tuneControlStream(conn.stream);
    this.client = new ControlChannel(conn.stream, {
      line: (line) => this.onClientLine(line),
      tooLong: () => {
        this.refuse('line_too_long', { limit: this.client.maxLineBytes });
        this.close('client line too long', '500 Command line too long.\r\n');
      },
      end: () => this.onClientEnd(),
      close: () => this.close('client closed'),
      error: (error) => this.close(`client error: ${error.message}`),
      drain: () => {
        this.upstream?.resume('backpressure');
        this.client.resume('replies-unread');
      },
    });
    const { site, pool, metrics } = context;
    this.data = new DataConnector({
      pool,
      metrics,
      log: this.log,
      connectTimeoutMs: site.upstreamConnectTimeoutMs,
      passiveTimeoutMs: site.passiveTimeoutMs,
      client: conn,
      upstream: () => this.upstreamConn,
      refuse: (reason, details) => this.refuse(reason, details),
      onSettled: () => undefined,
    });
    this.scope = this.makeScope();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async start(): Promise<void> {
    const { site, metrics } = this.context;
    metrics.sessionStarted();
    this.log.info({ client: `${this.conn.peer.host}:${this.conn.peer.port}` }, 'session start');
    this.client.pause('connecting');
    try {
      const upstream = await dialConn({
        host: site.upstream.host,
        port: site.upstream.port,
        timeoutMs: site.upstreamConnectTimeoutMs,
        allowHalfOpen: true,
      });
      if (this.closed) {
        upstream.stream.destroy();
        return;
      }
      this.attachUpstream(upstream);
      this.client.resume('connecting');
    } catch (error) {
      metrics.upstreamError('connect');
      this.log.error({ err: errorMessage(error) }, 'upstream unreachable');
      this.close('upstream unreachable', '421 Service not available, closing control connection.\r\n');
    }
  }

  private attachUpstream(conn: Conn): void {
    this.upstreamConn = conn;
    tuneControlStream(conn.stream);
    const upstream = new ControlChannel(conn.stream, {
      line: (line) => this.onUpstreamLine(line),
      tooLong: () => {
        this.context.metrics.upstreamError('bad_reply');
        this.log.error({ limit: upstream.maxLineBytes }, 'upstream line too long');
        this.close('upstream line too long', '421 Service not available, upstream sent a line that is too long.\r\n');
      },
      // The upstream has gone: everything received before is forwarded, a last line without its CRLF too.
      end: (unterminated) => {
        const closeAfterFlush = (): void => this.close('upstream closed', Buffer.alloc(0));
        const work = unterminated === undefined ? undefined : this.onUpstreamLine(unterminated);
        if (work === undefined) closeAfterFlush();
        else void work.then(closeAfterFlush);
      },
      close: () => undefined,
      error: (error) => {
        this.context.metrics.upstreamError('control');
        this.log.error({ err: error.message }, 'upstream control connection failed');
        this.close('upstream error', '421 Service not available, upstream connection lost.\r\n');
      },
      drain: () => this.client.resume('backpressure'),
    });
    this.upstream = upstream;
    // The client may have left while the upstream was being dialled: pass its EOF on now.
    if (this.client.readableEnded) upstream.endWriting();
  }

  // ---- client -> upstream ------------------------------------------------------------------

  private onClientLine(line: Buffer): void {
    if (this.closed) return;
    const command = parseCommand(line);
    if (TRANSFER_VERBS.has(command.verb) && this.pending.some((intent) => intent.kind === 'active')) {
      // PORT and RETR in one write: the RETR must wait until the PASV sent for the PORT is
      // answered, or it would reach the server before ftpmasq knows where to connect.
      this.client.putBack(line);
      this.client.hold();
      this.unblockAfterActiveReply = true;
      return;
    }
    if (this.context.logger.isLevelEnabled('debug')) this.log.debug({ verb: command.verb }, 'command');
    handlerFor(command.verb)(command, this.scope);
    if (this.pending.length > MAX_PENDING_COMMANDS) this.client.pause('pipeline');
  }

  private onClientEnd(): void {
    if (this.closed) return;
    // Pass the half-close on: the server answers what it has and closes, which closes us.
    this.upstream?.endWriting();
    this.halfCloseTimer ??= setTimeout(() => this.close('client closed'), CLOSE_GRACE_MS);
  }

  private forward(line: Buffer, intent: Intent): void {
    const upstream = this.upstream;
    if (upstream === undefined) return;
    this.pending.push(intent);
    if (!upstream.write(line)) this.client.pause('backpressure');
  }

  private answerLocally(reply: string): void {
    const bytes = Buffer.from(reply, 'latin1');
    if (this.pending.length === 0) this.sendToClient(bytes);
    else this.pending.push({ kind: 'local', reply: bytes });
  }

  /** Every refusal is counted and logged at warn, with what was refused. */
  private refuse(reason: RefusalReason, details: Readonly<Record<string, unknown>> = {}): void {
    this.context.metrics.refuse(reason);
    this.log.warn({ reason, ...details }, 'refused');
  }

  // ---- upstream -> client ------------------------------------------------------------------

  /**
   * Replies are handled strictly in order. Most are handled synchronously; a 227 that needs a
   * port bound, or a transfer reply waiting for its data, holds the later lines until done.
   */
  private onUpstreamLine(line: Buffer): Promise<void> | undefined {
    if (this.closed) return undefined;
    let work: Promise<void> | undefined;
    try {
      work = this.routeReplyLine(line);
    } catch (error) {
      this.failInternally(error);
      return undefined;
    }
    if (work === undefined) return undefined;
    const upstream = this.upstream;
    upstream?.hold();
    return work.then(
      () => upstream?.release(),
      (error: unknown) => this.failInternally(error),
    );
  }

  private routeReplyLine(line: Buffer): Promise<void> | undefined {
    const reply = this.replies.classify(line);
    const head = this.pending[0];
    const code = reply.code;
    if (code === undefined) {
      this.sendToClient(line);
      return undefined;
    }
    if ((head?.kind === 'passive' || head?.kind === 'active') && (this.heldReply.length > 0 || code === 227 || code === 229)) {
      this.heldReply.push(line);
      if (!reply.last) return undefined;
      const lines = this.heldReply;
      this.heldReply = [];
      return answerDataSetupReply(head, code, lines, this.scope);
    }
    if (!reply.last) {
      if (head?.kind === 'feat') passFeatureLine(line, this.scope);
      else this.sendToClient(line);
      return undefined;
    }
    if (isPreliminary(code) || head === undefined) {
      this.sendToClient(line);
      return undefined;
    }
    if (head.kind === 'transfer') return answerTransferReply(line, code, this.scope);
    this.finish(line);
    return undefined;
  }

  private failInternally(error: unknown): void {
    this.log.error({ err: errorMessage(error) }, 'reply handling failed');
    this.close('internal error', '421 Service not available, internal error.\r\n');
  }

  private finish(reply: string | Buffer): void {
    this.sendToClient(typeof reply === 'string' ? Buffer.from(reply, 'latin1') : reply);
    this.completeHead();
  }

  private completeHead(): void {
    const completed = this.pending.shift();
    if (completed?.kind === 'active' && this.unblockAfterActiveReply) {
      this.unblockAfterActiveReply = false;
      // After this reply is out: the waiting commands may answer locally or block again.
      queueMicrotask(() => this.releaseCommands());
    }
    while (this.pending[0]?.kind === 'local') {
      const local = this.pending.shift();
      if (local?.kind === 'local') this.sendToClient(local.reply);
    }
    if (this.pending.length <= MAX_PENDING_COMMANDS / 2) this.client.resume('pipeline');
  }

  private sendToClient(bytes: Buffer): void {
    if (this.closed) return;
    if (!this.client.write(bytes)) {
      this.upstream?.pause('backpressure');
      this.client.pause('replies-unread');
    }
  }

  private releaseCommands(): void {
    if (!this.closed) this.client.release();
  }

  private makeScope(): SessionScope {
    const { site, metrics, diagnosis } = this.context;
    return {
      site,
      metrics,
      log: this.log,
      data: this.data,
      diagnosis,
      facts: () => ({ clientAddress: this.conn.peer.host, localAddress: this.conn.local.host, epsvAllSeen: this.epsvAllSeen }),
      isClosed: () => this.closed,
      upstreamAddress: () => this.upstreamConn?.peer.host ?? '',
      forward: (line, intent) => this.forward(line, intent),
      answerLocally: (reply) => this.answerLocally(reply),
      refuse: (reason, details) => this.refuse(reason, details),
      noteEpsvAll: () => {
        this.epsvAllSeen = true;
      },
      holdCommands: () => this.client.hold(),
      releaseCommands: () => this.releaseCommands(),
      send: (line) => this.sendToClient(line),
      finish: (reply) => this.finish(reply),
      passOn: (lines) => {
        for (const line of lines) this.sendToClient(line);
        this.completeHead();
      },
    };
  }

  // ---- teardown ----------------------------------------------------------------------------

  /**
   * The one teardown path. With a last reply, the client connection is ended gracefully (so the
   * reply and anything before it arrive) and destroyed after a grace period; without, at once.
   */
  close(reason: string, lastReply?: string | Buffer): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.halfCloseTimer);
    this.data.close();
    this.upstream?.destroy();
    if (lastReply === undefined) this.client.destroy();
    else this.client.endGracefully(lastReply, CLOSE_GRACE_MS);
    this.context.metrics.sessionEnded();
    this.log.info({ reason, durationMs: Math.round(performance.now() - this.startedAt) }, 'session end');
    this.onClosed(this);
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
