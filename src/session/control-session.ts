import { performance } from 'node:perf_hooks';
import type { SiteConfig } from '../config/types.js';
import { DataConnector, type DataConnectorOptions } from '../data/data-connector.js';
import type { PassivePortPool } from '../data/passive-port-pool.js';
import { tuneControlStream, type Conn } from '../net/conn.js';
import { upstreamProxyHeader } from '../net/proxy-header-io.js';
import { ClientTlsSession } from '../net/tls-session.js';
import { upstreamTlsOf } from '../net/upstream-tls.js';
import type { Logger } from '../observability/logger.js';
import type { SiteMetrics } from '../observability/metrics.js';
import { isAbortLine, isUrgentAbortTail } from '../protocol/urgent-abort.js';
import { CommandExchange, type SessionActivity } from './command-exchange.js';
import { ControlChannel } from './control-channel.js';
import { IdleWaiter } from './idle-waiter.js';
import { createUpstreamOpener, reportOpenFailure, type UpstreamOpener, type UpstreamSpareSource } from './login-router.js';
import { reportTimeout, SessionTimers, TIMEOUT_REPLIES, type SessionTimeout } from './session-timers.js';
import { nextSessionId } from './session-ids.js';
import { UpstreamLink } from './upstream-link.js';

/** Shared by all sessions of one daemon; `kernel` in kernel mode. */
export interface SessionContext extends Pick<DataConnectorOptions, 'kernel'> {
  /** The site snapshot the session started with; a reload never changes it. */
  readonly site: SiteConfig;
  readonly pool: PassivePortPool;
  readonly metrics: SiteMetrics;
  readonly logger: Logger;
  /** Process-wide: the diagnosis of a misconfigured upstream is logged once, not per session. */
  readonly diagnosis: { unroutablePasvWarned: boolean };
  /** A `publicAddress` given as a DNS name: its address now, read at each 227 (daemon/public-address.ts). */
  readonly publicAddress?: (() => string | undefined) | undefined;
  /** `upstreamPreconnect`: upstream connections dialled ahead, taken before dialling (daemon/upstream-spares.ts). */
  readonly spares?: UpstreamSpareSource | undefined;
}

/** How long a closing session waits for the peer to take its last reply before destroying. */
const CLOSE_GRACE_MS = 2000;

/** The answer to a command that comes after `beginDrain()`; the session ends with it. */
export const DRAIN_REPLY = '421 Service shutting down, try again later.\r\n';

/**
 * One client control connection and everything it owns: the upstream control connection (its
 * UpstreamLink, once the opener has it), the command/reply exchange (the intent FIFO, the
 * handlers, the transfer gate) and the data connector. It routes client lines to the exchange,
 * keeps the session's clocks and half-close, and holds the one `close()`.
 */
export class ControlSession {
  readonly id: string;
  private readonly startedAt = performance.now();
  private readonly log: Logger;
  private readonly client: ControlChannel;
  private upstream: UpstreamLink | undefined;
  private readonly data: DataConnector;
  private readonly exchange: CommandExchange;
  private readonly timers: SessionTimers;
  private readonly clientTls: ClientTlsSession | undefined;
  private readonly opener: UpstreamOpener;
  private closed = false;
  /** The client's EOF has been read (and passed upstream after every command before it). */
  private clientEnded = false;
  private halfCloseTimer: NodeJS.Timeout | undefined;
  private draining = false;
  private readonly idleWaiter = new IdleWaiter();

  constructor(
    private readonly conn: Conn,
    private readonly context: SessionContext,
    private readonly onClosed: (session: ControlSession) => void,
    /** Accepted on an implicit FTPS listener: TLS from the first byte. */
    private readonly implicitTls = false,
  ) {
    this.id = nextSessionId();
    this.log = context.logger.child({ session: this.id });
    tuneControlStream(conn.stream);
    this.client = new ControlChannel(conn.stream, {
      line: (line) => this.onClientLine(line),
      tooLong: () => this.onClientLine(undefined),
      end: () => this.onClientEnd(),
      close: () => this.close('client closed'),
      error: (error) => this.close(`client error: ${error.message}`),
      drain: () => {
        this.upstream?.channel.resume('backpressure');
        this.client.resume('replies-unread');
      },
    }, context.site.maxCommandBytes, { overlong: 'skip', completesTail: isUrgentAbortTail, urgentLine: isAbortLine });
    const { site, pool, metrics } = context;
    this.clientTls = site.tls === undefined ? undefined : new ClientTlsSession(site.tls, metrics, this.log);
    const upstreamTls = upstreamTlsOf(site, metrics, this.log);
    this.data = new DataConnector({
      pool, kernel: context.kernel, metrics, log: this.log,
      connectTimeoutMs: site.upstreamConnectTimeoutMs,
      passiveTimeoutMs: site.passiveTimeoutMs,
      stallTimeoutMs: site.dataStallTimeoutMs,
      client: conn,
      upstream: () => this.upstream?.conn,
      refuse: (reason, details) => this.exchange.refuse(reason, details),
      onSettled: () => {
        // Time while data flows is not the server's to answer for: the reply clock restarts.
        this.timers.replyProgress();
        this.checkIdle();
      },
      clientDataTls: () => this.clientTls?.dataTls(site.tls?.dataTlsReuse ?? 'required', site.passiveTimeoutMs),
      // The TLS session of the connection in use: a preconnected one brings its own.
      upstreamDataTls: upstreamTls && ((socket, timeoutMs) => (this.opener.upstreamTls ?? upstreamTls).dataTls(socket, timeoutMs)),
    });
    this.exchange = new CommandExchange({
      context,
      log: this.log,
      conn,
      client: this.client,
      data: this.data,
      isClosed: () => this.closed,
      close: (reason, lastReply) => this.close(reason, lastReply),
      onReply: (code) => this.timers.replied(code),
      onAwaitingReply: () => this.timers.replyProgress(),
      onCompleted: () => this.checkIdle(),
      clientTls: this.clientTls,
      upgradeClient: () => this.upgradeClient(),
      handlerBeforeUpstream: (verb) => this.opener.handlerBeforeUpstream(verb),
    });
    this.opener = createUpstreamOpener({ site, exchange: this.exchange, log: this.log, metrics, upstreamTls, proxyHeader: upstreamProxyHeader(conn, 'control'), spares: context.spares });
    const awaitsReply = (): boolean => this.exchange.owesReply && !this.data.isBusy;
    this.timers = new SessionTimers(site, () => this.isIdle(), (timeout) => this.onTimeout(timeout), awaitsReply);
  }

  /** What the live view reads of this session (session-activity.ts). */
  get activity(): SessionActivity { return this.exchange.activity; }
  get isClosed(): boolean { return this.closed; }

  /**
   * From now on no new command is accepted: the next one is answered `421` (after the replies
   * still owed) and the session ends with it. Commands in flight and running transfers finish
   * normally. An idle session stays open until that next command or the daemon's close.
   */
  beginDrain(): void {
    this.draining = true;
  }

  /**
   * Resolves once nothing is in flight (no command awaiting its reply, no open relay, no data
   * connection being made), at once if that is so now, or when the session closes.
   */
  whenIdle(): Promise<void> {
    return this.closed || this.isIdle() ? Promise.resolve() : this.idleWaiter.wait();
  }

  async start(): Promise<void> {
    const { metrics } = this.context;
    metrics.sessionStarted();
    this.log.info({ client: `${this.conn.peer.host}:${this.conn.peer.port}`, via: this.conn.proxied?.via.host }, 'session start');
    if (!this.opener.greetsClient) this.client.pause('connecting');
    if (this.implicitTls) this.upgradeClient();
    try {
      const upstream = await this.opener.open();
      if (this.closed) return void upstream.stream.destroy();
      this.attachUpstream(upstream);
      this.client.resume('connecting');
    } catch (error) {
      if (!this.closed) this.close(...reportOpenFailure(error, metrics, this.log));
    }
  }

  private attachUpstream(conn: Conn): void {
    const link = new UpstreamLink(conn, {
      metrics: this.context.metrics,
      log: this.log,
      isClosed: () => this.closed,
      onReplyLine: (line) => this.exchange.onReplyLine(line),
      replyProgress: () => this.timers.replyProgress(),
      close: (reason, lastReply) => this.close(reason, lastReply),
      upstreamDrained: () => this.client.resume('backpressure'),
    });
    this.upstream = link;
    this.exchange.attachUpstream(link.channel, conn);
    this.timers.upstreamConnected();
    this.opener.attached();
    // The client may have left while the upstream was being dialled: pass its EOF on now.
    if (this.client.readableEnded) link.channel.endWriting();
  }

  /** The 234 to AUTH TLS is out: the client's control stream becomes TLS (net/tls-session.ts). */
  private upgradeClient(): void {
    if (this.closed || this.clientTls === undefined) return;
    const discarded = this.clientTls.upgradeControl(this.client);
    if (discarded > 0) this.exchange.refuse('tls_pipelined', { discardedBytes: discarded });
  }

  /**
   * A command line, or undefined for one over maxCommandBytes: dropped, never forwarded, since a
   * server answers nothing to a line over its own buffer and the client would wait forever.
   */
  private onClientLine(line: Buffer | undefined): void {
    if (this.closed) return;
    this.timers.commandReceived();
    if (this.draining) this.exchange.answerLastly(DRAIN_REPLY, 'shutting down');
    else if (line === undefined) this.exchange.onClientOverlongLine(this.client.maxLineBytes);
    else this.exchange.onClientLine(line);
  }

  private isIdle(): boolean {
    return this.exchange.isQuiet && !this.data.isBusy;
  }

  private checkIdle(): void {
    if (this.closed || !this.isIdle()) return;
    this.timers.becameIdle();
    this.idleWaiter.settle();
    if (this.clientEnded) this.closeAfterGrace();
  }

  /** A clock ran out: counted, logged, answered 421, closed. */
  private onTimeout(timeout: SessionTimeout): void {
    const { site, metrics } = this.context;
    reportTimeout(timeout, site, { metrics, log: this.log, refuse: (reason, details) => this.exchange.refuse(reason, details) });
    this.close(`${timeout} timeout`, TIMEOUT_REPLIES[timeout]);
  }

  /**
   * The EOF comes after every line before it, and a line needing I/O first holds the channel
   * until it is upstream: the server gets every command, then the EOF. Transfers and replies owed
   * run on; once nothing is in flight the server has a grace period to close (DESIGN.md).
   */
  private onClientEnd(): void {
    if (this.closed) return;
    this.clientEnded = true;
    this.upstream?.channel.endWriting();
    if (this.isIdle()) this.closeAfterGrace();
  }

  private closeAfterGrace(): void {
    this.halfCloseTimer ??= setTimeout(() => this.close('client closed', Buffer.alloc(0)), CLOSE_GRACE_MS);
  }

  /**
   * The one teardown path. With a last reply, the client connection is ended gracefully (so the
   * reply and anything before it arrive) and destroyed after a grace period; without, at once.
   */
  close(reason: string, lastReply?: string | Buffer): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.halfCloseTimer);
    this.timers.clear();
    this.opener.close();
    this.data.close();
    this.upstream?.channel.destroy();
    if (lastReply === undefined) this.client.destroy();
    else this.client.endGracefully(lastReply, CLOSE_GRACE_MS);
    this.idleWaiter.settle();
    this.context.metrics.sessionEnded();
    this.log.info({ reason, durationMs: Math.round(performance.now() - this.startedAt) }, 'session end');
    this.onClosed(this);
  }
}
