/**
 * TLS towards the upstream server (`upstreamTls`), ftpmasq as the FTPS client (RFC 4217). Explicit:
 * the server's greeting is read, then ftpmasq sends `AUTH TLS`, makes the connection TLS, and
 * sends `PBSZ 0` and `PROT P` itself before the session starts; the greeting is then replayed on
 * the TLS stream, so the session sees a server that greeted on an encrypted connection and relays
 * the client's login through it. Implicit: TLS from the first byte.
 *
 * The server's certificate is always checked (the system CAs, the configured CA, or a pinned
 * SHA-256); a failed check ends the dial with an error, so the client gets 421 and no session.
 * Data connections to the server resume the control connection's TLS session: ProFTPD mod_tls
 * requires that by default, vsftpd with `require_ssl_reuse`.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { SiteConfig, UpstreamTls } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { SiteMetrics } from '../observability/metrics.js';
import { connFromSocket, type Conn } from './conn.js';
import { dial, dialConn, type DialOptions } from './dial.js';
import { TLS_MAX_VERSION, TLS_MIN_VERSION } from './tls-context.js';
import { UpstreamReplyReader, UpstreamTlsError } from './upstream-reply-reader.js';

export { UpstreamTlsError } from './upstream-reply-reader.js';

/**
 * The verdict on the server's certificate of a finished handshake: undefined when trusted. The
 * handshake runs with `rejectUnauthorized: false` and this decides, so a CA, a name and a pin are
 * checked in one place and each failure says which it was. Nothing is sent before it passes.
 */
export function checkUpstreamCertificate(socket: tls.TLSSocket, settings: UpstreamTls, host: string): string | undefined {
  // A resumed session proves the peer holds the secret of a handshake already checked here (the
  // control connection's); TLS 1.3 resumption sends no certificate at all.
  if (socket.isSessionReused()) return undefined;
  const certificate = socket.getPeerCertificate();
  if (Object.keys(certificate).length === 0) return 'the server sent no certificate';
  const verify = settings.verify;
  if (verify.kind === 'fingerprint') {
    const presented = certificate.fingerprint256.replaceAll(':', '').toUpperCase();
    return presented === verify.sha256 ? undefined : `certificate fingerprint ${presented} is not the pinned ${verify.sha256}`;
  }
  if (!socket.authorized) return `certificate not trusted: ${String(socket.authorizationError)}`;
  const mismatch = tls.checkServerIdentity(host, certificate);
  return mismatch === undefined ? undefined : mismatch.message;
}

/** A session's TLS towards its server: the control connection, and the session its data connections resume. */
export class UpstreamTlsSession {
  /** The newest session (TLS 1.2) or ticket (TLS 1.3) of the control connection. */
  private session: Buffer | undefined;

  constructor(
    private readonly settings: UpstreamTls,
    private readonly host: string,
    private readonly metrics: Pick<SiteMetrics, 'tlsHandshake'>,
    private readonly log: Logger,
  ) {}

  /**
   * Dials the server and makes the control connection TLS, within `options.timeoutMs` for the
   * whole exchange. Rejects (the socket destroyed) on a refusal, a failed handshake or an
   * untrusted certificate; the Conn resolved carries the TCP addresses and the TLS stream.
   */
  async connectControl(options: DialOptions): Promise<Conn> {
    const plain = await dial(options);
    const deadline = Date.now() + options.timeoutMs;
    try {
      if (this.settings.mode === 'implicit') {
        const secure = await this.handshake(plain, 'upstream', deadline - Date.now());
        return { ...connFromSocket(plain), stream: secure };
      }
      return await this.negotiateExplicit(plain, deadline);
    } catch (error) {
      plain.destroy();
      throw error;
    }
  }

  /** A data connection to the server, made TLS resuming the control connection's session. */
  readonly dataTls = (socket: net.Socket, timeoutMs: number): Promise<tls.TLSSocket> => this.handshake(socket, 'upstream_data', timeoutMs);

  /** RFC 4217 sections 4 and 9, in order: greeting, AUTH TLS (234), handshake, PBSZ 0 (200), PROT P (200). */
  private async negotiateExplicit(plain: net.Socket, deadline: number): Promise<Conn> {
    const reader = new UpstreamReplyReader(plain);
    const greeting = await reader.next(deadline - Date.now());
    if (greeting.code !== 220) throw new UpstreamTlsError(`the server greeted with ${reader.describe(greeting)}`, 'refused');
    plain.write('AUTH TLS\r\n');
    const auth = await reader.next(deadline - Date.now());
    if (auth.code !== 234) throw new UpstreamTlsError(`the server refused AUTH TLS: ${reader.describe(auth)}`, 'refused');
    // The server speaks TLS next; anything else it sent in clear is not to be trusted.
    if (reader.detach().length > 0) throw new UpstreamTlsError('the server sent bytes after 234 before the TLS handshake', 'refused');
    const secure = await this.handshake(plain, 'upstream', deadline - Date.now());
    try {
      const secureReader = new UpstreamReplyReader(secure);
      for (const command of ['PBSZ 0', 'PROT P']) {
        secure.write(`${command}\r\n`);
        const reply = await secureReader.next(deadline - Date.now());
        if (reply.code !== 200) throw new UpstreamTlsError(`the server refused ${command}: ${secureReader.describe(reply)}`, 'refused');
      }
      if (secureReader.detach().length > 0) throw new UpstreamTlsError('the server sent a reply nobody asked for', 'refused');
    } catch (error) {
      secure.destroy();
      throw error;
    }
    // The greeting's own bytes, for the session to relay as if the server had just sent them.
    secure.unshift(Buffer.concat(greeting.lines));
    return { ...connFromSocket(plain), stream: secure };
  }

  private handshake(socket: net.Socket, side: 'upstream' | 'upstream_data', timeoutMs: number): Promise<tls.TLSSocket> {
    const servername = net.isIP(this.host) === 0 ? this.host : undefined;
    const secure = tls.connect({
      socket,
      host: this.host,
      ...(servername === undefined ? {} : { servername }),
      ...(side === 'upstream_data' && this.session !== undefined ? { session: this.session } : {}),
      ...(this.settings.verify.kind === 'ca' ? { ca: this.settings.verify.ca } : {}),
      rejectUnauthorized: false,
      minVersion: TLS_MIN_VERSION,
      maxVersion: TLS_MAX_VERSION,
    });
    if (side === 'upstream') secure.on('session', (session: Buffer) => (this.session = session));
    return new Promise<tls.TLSSocket>((resolve, reject) => {
      const timer = setTimeout(() => fail(new UpstreamTlsError(`no TLS handshake with the server within ${timeoutMs} ms`, 'handshake')), Math.max(0, timeoutMs));
      const onError = (error: Error): void => fail(new UpstreamTlsError(`TLS handshake with the server failed: ${error.message}`, 'handshake'));
      const onClose = (): void => fail(new UpstreamTlsError('the server closed the connection during the TLS handshake', 'handshake'));
      const cleanup = (): void => {
        clearTimeout(timer);
        secure.off('error', onError);
        secure.off('close', onClose);
      };
      const fail = (error: UpstreamTlsError): void => {
        cleanup();
        secure.on('error', () => undefined);
        secure.destroy();
        this.metrics.tlsHandshake(side, error.reason === 'untrusted' ? 'untrusted' : 'failure');
        this.log.warn({ side, err: error.message }, 'TLS towards the server failed');
        reject(error);
      };
      secure.once('secureConnect', () => {
        const distrust = checkUpstreamCertificate(secure, this.settings, this.host);
        if (distrust !== undefined) {
          fail(new UpstreamTlsError(distrust, 'untrusted'));
          return;
        }
        cleanup();
        // Until the relay owns it, an error must not be unhandled; the relay adds its own listener.
        if (side === 'upstream_data') secure.on('error', () => undefined);
        const protocol = secure.getProtocol() ?? 'unknown';
        this.metrics.tlsHandshake(side, 'success', protocol);
        this.log.debug({ side, protocol, resumed: secure.isSessionReused() }, 'TLS towards the server');
        resolve(secure);
      });
      secure.on('error', onError);
      secure.on('close', onClose);
    });
  }
}

/** The site's TLS towards its server for one session; undefined when that leg is plain. */
export function upstreamTlsOf(site: SiteConfig, metrics: Pick<SiteMetrics, 'tlsHandshake'>, log: Logger): UpstreamTlsSession | undefined {
  return site.upstreamTls === undefined ? undefined : new UpstreamTlsSession(site.upstreamTls, site.upstream.host, metrics, log);
}

/** The session's upstream control connection: plain, or made TLS by `tls` (421 to the client when that fails). */
export function connectUpstream(site: SiteConfig, tls: UpstreamTlsSession | undefined, proxyHeader?: Buffer): Promise<Conn> {
  const options: DialOptions = {
    host: site.upstream.host,
    port: site.upstream.port,
    timeoutMs: site.upstreamConnectTimeoutMs,
    allowHalfOpen: true,
    ...(proxyHeader === undefined ? {} : { proxyHeader }),
  };
  return tls === undefined ? dialConn(options) : tls.connectControl(options);
}
