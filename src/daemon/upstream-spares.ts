/**
 * `upstreamPreconnect: N`: up to N upstream control connections dialled and greeted before any
 * client needs them. A new session takes one instead of waiting for the server to accept it, which
 * on a forking server can take hundreds of milliseconds (ProFTPD's master sleeps 200 ms after each
 * child's exit: docs/PERFORMANCE.md). The server's greeting is read and held, byte for byte, and
 * put back in front of the stream when a session takes the connection, so the client gets exactly
 * what the server sent. With `upstreamTls` the connection is TLS before it waits (AUTH TLS, PBSZ,
 * PROT done), and the session takes its TLS session too, for its data connections to resume.
 *
 * The pool is topped up only when a session starts, never on a timer: an idle ftpmasq holds no
 * server session once the last spare has waited `upstreamPreconnectMaxAge` (then ftpmasq sends
 * QUIT and closes it). A failed dial is counted and not retried until the next session starts.
 * One owner: the Site; `close()` ends every spare and every dial still in flight.
 */
import { isDeepStrictEqual } from 'node:util';
import type { SiteConfig } from '../config/types.js';
import type { Conn } from '../net/conn.js';
import { connectUpstream, upstreamTlsOf, type UpstreamTlsSession } from '../net/upstream-tls.js';
import type { Logger } from '../observability/logger.js';
import type { PreconnectOutcome } from '../observability/metric-labels.js';
import type { SiteMetrics } from '../observability/metrics.js';
import type { PreconnectedUpstream, UpstreamSpareSource } from '../session/login-router.js';

/** More than a greeting: a server talking to nobody is not a connection worth handing to a client. */
const MAX_HELD_BYTES = 4096;
/** How long a spare being closed may take to answer its QUIT before it is destroyed. */
const QUIT_GRACE_MS = 2000;

interface Spare {
  readonly conn: Conn;
  readonly upstreamTls: UpstreamTlsSession | undefined;
  readonly held: Buffer[];
  heldBytes: number;
  readonly expiry: NodeJS.Timeout;
  readonly detach: () => void;
}

export class UpstreamSpares implements UpstreamSpareSource {
  /** Oldest first: a session takes the one closest to expiring. */
  private readonly waiting = new Set<Spare>();
  private dialling = 0;
  private closed = false;

  constructor(
    private site: SiteConfig,
    private readonly metrics: SiteMetrics,
    private readonly log: Logger,
  ) {}

  take(): PreconnectedUpstream | undefined {
    const spare = this.waiting.values().next().value;
    if (spare !== undefined) this.release(spare);
    // After the caller's own dial, if it has to make one: the session's connection goes first.
    process.nextTick(() => this.topUp());
    if (spare === undefined) return undefined;
    this.report('used');
    // Paused, so the bytes put back wait for the session's reader, which resumes the stream.
    spare.conn.stream.pause();
    if (spare.heldBytes > 0) spare.conn.stream.unshift(Buffer.concat(spare.held, spare.heldBytes));
    return { conn: spare.conn, upstreamTls: spare.upstreamTls };
  }

  /**
   * A reload: a different upstream (or its TLS settings, connect timeout or max age) makes every
   * waiting spare stale; they are closed and later sessions dial the new one. A lower count closes
   * the oldest extra ones.
   */
  apply(next: SiteConfig): void {
    const keep = dialsAlike(this.site, next) ? (next.upstreamPreconnect ?? 0) : 0;
    this.site = next;
    for (const spare of [...this.waiting].slice(0, Math.max(0, this.waiting.size - keep))) this.retire(spare, 'discarded');
  }

  /** Every spare gets QUIT; dials in flight are closed as they complete. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const spare of [...this.waiting]) this.retire(spare, 'discarded');
  }

  private topUp(): void {
    const wanted = (this.site.upstreamPreconnect ?? 0) - this.waiting.size - this.dialling;
    for (let index = 0; index < wanted && !this.closed; index++) this.dial();
  }

  private dial(): void {
    const site = this.site;
    this.dialling++;
    // Its own TLS session: the data connections of the session that takes it resume this one.
    const upstreamTls = upstreamTlsOf(site, this.metrics, this.log);
    connectUpstream(site, upstreamTls).then(
      (conn) => {
        this.dialling--;
        if (this.closed || !dialsAlike(site, this.site)) return void this.quit(conn, 'discarded');
        this.hold(conn, upstreamTls, site.upstreamPreconnectMaxAgeMs ?? 0);
      },
      (error: unknown) => {
        this.dialling--;
        this.report('failed');
        this.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'preconnect to upstream failed');
      },
    );
  }

  private hold(conn: Conn, upstreamTls: UpstreamTlsSession | undefined, maxAgeMs: number): void {
    const stream = conn.stream;
    const onData = (chunk: Buffer): void => {
      spare.held.push(chunk);
      spare.heldBytes += chunk.length;
      if (spare.heldBytes > MAX_HELD_BYTES) this.retire(spare, 'closed');
    };
    // The server closed it or failed: nobody's session is affected, the next one dials afresh.
    const onGone = (): void => {
      if (!this.waiting.has(spare)) return;
      this.release(spare);
      stream.destroy();
      this.report('closed');
    };
    const spare: Spare = {
      conn,
      upstreamTls,
      held: [],
      heldBytes: 0,
      expiry: setTimeout(() => this.retire(spare, 'expired'), maxAgeMs),
      detach: () => {
        stream.off('data', onData);
        stream.off('end', onGone);
        stream.off('close', onGone);
        stream.off('error', onGone);
      },
    };
    stream.on('data', onData);
    stream.on('end', onGone);
    stream.on('close', onGone);
    stream.on('error', onGone);
    this.waiting.add(spare);
    this.report(undefined);
  }

  /** No longer waiting: its listeners and timer are gone; whoever took it owns the connection. */
  private release(spare: Spare): void {
    this.waiting.delete(spare);
    clearTimeout(spare.expiry);
    spare.detach();
  }

  private retire(spare: Spare, outcome: PreconnectOutcome): void {
    if (!this.waiting.has(spare)) return;
    this.release(spare);
    this.quit(spare.conn, outcome);
  }

  /** QUIT, as a client leaving would; the server's 221 is read and dropped, then the socket goes. */
  private quit(conn: Conn, outcome: PreconnectOutcome): void {
    const stream = conn.stream;
    const grace = setTimeout(() => stream.destroy(), QUIT_GRACE_MS);
    grace.unref();
    stream.on('error', () => stream.destroy());
    stream.on('close', () => clearTimeout(grace));
    stream.resume();
    stream.end('QUIT\r\n');
    this.report(outcome);
  }

  private report(outcome: PreconnectOutcome | undefined): void {
    this.metrics.preconnect(outcome, this.waiting.size);
  }
}

/** Whether a spare dialled for `a` is one `b` would have made: same server, TLS settings, timeout and max age. */
export function dialsAlike(a: SiteConfig, b: SiteConfig): boolean {
  return (
    a.upstream.host === b.upstream.host &&
    a.upstream.port === b.upstream.port &&
    a.upstreamConnectTimeoutMs === b.upstreamConnectTimeoutMs &&
    a.upstreamPreconnectMaxAgeMs === b.upstreamPreconnectMaxAgeMs &&
    isDeepStrictEqual(a.upstreamTls, b.upstreamTls)
  );
}
