/**
 * The FTPS state of one client control session: its own TLS context (so its own ticket keys),
 * whether the control connection is TLS, PBSZ and the PROT level, and the two places ftpmasq
 * becomes a TLS server: the control stream after `AUTH TLS`, and each `PROT P` data connection.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { DataTlsReuseMode } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { SiteMetrics } from '../observability/metrics.js';
import { createSessionContext, selectAlpn, type TlsMaterial } from './tls-context.js';

/** What a control channel offers the upgrade: the same shape as session/ControlChannel. */
export interface UpgradableChannel {
  readonly stream: Duplex;
  takeUnread(): Buffer;
  swapStream(stream: Duplex): void;
  release(): void;
}

export type DataTlsResult =
  | { readonly ok: true; readonly socket: tls.TLSSocket; readonly reused: boolean; readonly protocol: string }
  | { readonly ok: false; readonly reason: 'handshake' | 'not-reused' | 'timeout'; readonly error: string };

/** How long a refused data connection may take to read ftpmasq's close_notify. */
const CLOSE_NOTIFY_GRACE_MS = 2000;

/**
 * Ends a TLS socket the clean way: close_notify, then FIN. A client sees an empty transfer that
 * ended properly and reads the 522 on the control connection, rather than failing in its TLS
 * layer (Python's ftplib raises SHUTDOWN_WHILE_IN_INIT on a bare close).
 */
function closeWithNotify(secure: tls.TLSSocket): void {
  secure.end();
  const timer = setTimeout(() => secure.destroy(), CLOSE_NOTIFY_GRACE_MS);
  timer.unref();
  secure.once('close', () => clearTimeout(timer));
}

export class ClientTlsSession {
  /** Made at the first handshake: a plain session on a TLS site does not pay for it. */
  private sessionContext: tls.SecureContext | undefined;
  private control: tls.TLSSocket | undefined;
  private pbsz = false;
  private protection: 'clear' | 'private' = 'clear';

  constructor(
    private readonly material: TlsMaterial,
    private readonly metrics: Pick<SiteMetrics, 'tlsHandshake'>,
    private readonly log: Logger,
  ) {
  }

  private get context(): tls.SecureContext {
    this.sessionContext ??= createSessionContext(this.material);
    return this.sessionContext;
  }

  /** The control connection is TLS: every line from now on was decrypted. */
  get controlTls(): boolean {
    return this.control !== undefined;
  }

  get pbszSeen(): boolean {
    return this.pbsz;
  }

  /** PROT P is in effect: the next data connections are TLS. */
  get protectsData(): boolean {
    return this.controlTls && this.protection === 'private';
  }

  /** The negotiated version of the control connection (`TLSv1.3`), once the handshake is done. */
  get controlProtocol(): string | undefined {
    const protocol = this.control?.getProtocol();
    return protocol ?? undefined;
  }

  notePbsz(): void {
    this.pbsz = true;
  }

  setProtection(level: 'clear' | 'private'): void {
    this.protection = level;
  }

  /**
   * Runs as the `234` is written. Whatever the client sent after `AUTH TLS` and before reading
   * the `234` was sent in clear text and is discarded, never handled (the STARTTLS injection
   * class, CVE-2011-0411): the lines waiting in the channel and the bytes still buffered in the
   * plain socket, which the TLS layer (reading the socket's handle directly) would not see
   * anyway. A client that waited for the `234` has nothing there; its handshake starts after.
   * Returns how many bytes were discarded.
   */
  upgradeControl(channel: UpgradableChannel): number {
    const plain = channel.stream;
    const discarded = channel.takeUnread().length + plain.readableLength;
    const secure = new tls.TLSSocket(plain, {
      isServer: true,
      secureContext: this.context,
      ALPNCallback: ({ protocols }) => selectAlpn(protocols),
    });
    this.control = secure;
    let done = false;
    secure.once('secure', () => {
      done = true;
      const protocol = secure.getProtocol() ?? 'unknown';
      this.metrics.tlsHandshake('client_control', 'success', protocol);
      this.log.info({ protocol }, 'client control connection is TLS');
    });
    // The channel reports the error and the session closes; this only counts it.
    secure.once('close', () => {
      if (!done) this.metrics.tlsHandshake('client_control', 'failure');
    });
    channel.swapStream(secure);
    channel.release();
    return discarded;
  }

  /** Under PROT P: how the next client data connection becomes TLS; undefined while data is clear. */
  dataTls(reuse: DataTlsReuseMode, timeoutMs: number): ((socket: net.Socket) => Promise<DataTlsResult>) | undefined {
    if (!this.protectsData) return undefined;
    return (socket) => this.acceptData(socket, reuse, timeoutMs);
  }

  /**
   * A `PROT P` data connection, ftpmasq as the TLS server whichever side dialled (RFC 4217
   * section 7). With `reuse: required` the client must resume a session of this control
   * connection: the context is this session's own, so a resumed session can only come from a
   * ticket this session issued. `timeoutMs` bounds the handshake.
   */
  acceptData(socket: net.Socket, reuse: DataTlsReuseMode, timeoutMs: number): Promise<DataTlsResult> {
    const secure = new tls.TLSSocket(socket, {
      isServer: true,
      secureContext: this.context,
      ALPNCallback: ({ protocols }) => selectAlpn(protocols),
    });
    return new Promise<DataTlsResult>((resolve) => {
      const timer = setTimeout(() => finish({ ok: false, reason: 'timeout', error: `no TLS handshake within ${timeoutMs} ms` }), timeoutMs);
      const onError = (error: Error): void => finish({ ok: false, reason: 'handshake', error: error.message });
      const onClose = (): void => finish({ ok: false, reason: 'handshake', error: 'closed during the TLS handshake' });
      function finish(result: DataTlsResult): void {
        clearTimeout(timer);
        secure.off('error', onError);
        secure.off('close', onClose);
        if (!result.ok) {
          secure.on('error', () => undefined);
          if (result.reason === 'not-reused') closeWithNotify(secure);
          else secure.destroy();
        }
        resolve(result);
      }
      secure.once('secure', () => {
        const reused = secure.isSessionReused();
        if (reuse === 'required' && !reused) {
          finish({ ok: false, reason: 'not-reused', error: 'the client did not resume the TLS session of its control connection' });
          return;
        }
        finish({ ok: true, socket: secure, reused, protocol: secure.getProtocol() ?? 'unknown' });
      });
      secure.on('error', onError);
      secure.on('close', onClose);
    });
  }
}
