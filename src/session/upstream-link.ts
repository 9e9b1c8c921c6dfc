/**
 * A session's upstream side once its opener has a connection: the upstream ControlChannel and
 * what each of its events means for the session. Replies are handed on strictly in order: most
 * are handled synchronously; one that needs I/O first (a 227 whose port must be bound, a transfer
 * reply waiting for its data) holds the later lines until it is done. The upstream's EOF forwards
 * everything received before it (a last line without its CRLF too) and then ends the session; an
 * overlong line or a socket error ends it with a 421.
 */
import { tuneControlStream, type Conn } from '../net/conn.js';
import type { Logger } from '../observability/logger.js';
import type { SiteMetrics } from '../observability/metrics.js';
import { ControlChannel } from './control-channel.js';

/** What the link needs of its session. */
export interface UpstreamLinkOwner {
  readonly metrics: SiteMetrics;
  readonly log: Logger;
  isClosed(): boolean;
  /** The exchange's handling of one reply line: a promise when it needs I/O first. May throw. */
  onReplyLine(line: Buffer): Promise<void> | undefined;
  /** Something came from the upstream: the reply clock restarts. */
  replyProgress(): void;
  /** The session's one teardown path. */
  close(reason: string, lastReply?: string | Buffer): void;
  /** The upstream took what it was given: the client may be read again. */
  upstreamDrained(): void;
}

const LINE_TOO_LONG_REPLY = '421 Service not available, upstream sent a line that is too long.\r\n';
const LOST_REPLY = '421 Service not available, upstream connection lost.\r\n';
const INTERNAL_ERROR_REPLY = '421 Service not available, internal error.\r\n';

export class UpstreamLink {
  readonly channel: ControlChannel;

  constructor(
    readonly conn: Conn,
    private readonly owner: UpstreamLinkOwner,
  ) {
    tuneControlStream(conn.stream);
    const { metrics, log } = owner;
    this.channel = new ControlChannel(conn.stream, {
      line: (line) => this.onLine(line),
      tooLong: () => {
        metrics.upstreamError('bad_reply');
        log.error({ limit: this.channel.maxLineBytes }, 'upstream line too long');
        owner.close('upstream line too long', LINE_TOO_LONG_REPLY);
      },
      end: (unterminated) => {
        const closeAfterFlush = (): void => owner.close('upstream closed', Buffer.alloc(0));
        const work = unterminated === undefined ? undefined : this.onLine(unterminated);
        if (work === undefined) closeAfterFlush();
        else void work.then(closeAfterFlush);
      },
      close: () => undefined,
      error: (error) => {
        metrics.upstreamError('control');
        log.error({ err: error.message }, 'upstream control connection failed');
        owner.close('upstream error', LOST_REPLY);
      },
      drain: () => owner.upstreamDrained(),
    });
  }

  private onLine(line: Buffer): Promise<void> | undefined {
    const owner = this.owner;
    if (owner.isClosed()) return undefined;
    owner.replyProgress();
    let work: Promise<void> | undefined;
    try {
      work = owner.onReplyLine(line);
    } catch (error) {
      this.failInternally(error);
      return undefined;
    }
    if (work === undefined) return undefined;
    this.channel.hold();
    return work.then(
      () => this.channel.release(),
      (error: unknown) => this.failInternally(error),
    );
  }

  private failInternally(error: unknown): void {
    this.owner.log.error({ err: error instanceof Error ? error.message : String(error) }, 'reply handling failed');
    this.owner.close('internal error', INTERNAL_ERROR_REPLY);
  }
}
