/**
 * The I/O around the pure PROXY header parser (src/protocol/proxy-header.ts): reading a header off
 * a socket from a trusted load balancer before any FTP byte, keeping a header from anyone else
 * from ever reaching a session, and the header ftpmasq sends to its upstream. The rules and
 * their tests are listed in docs/SECURITY.md, "PROXY protocol".
 */
import type net from 'node:net';
import type { Conn, ConnAddress } from './conn.js';
import { classifyFirstBytes, formatProxyHeader, parseProxyHeader, type ProxyHeader } from '../protocol/proxy-header.js';
import { normalizeAddress } from '../protocol/address-policy.js';

export type ProxyHeaderRead =
  | { readonly ok: true; readonly header: ProxyHeader }
  | { readonly ok: false; readonly reason: 'proxy_header_missing' | 'proxy_header_invalid'; readonly detail: string };

/**
 * Reads the PROXY header at the start of `socket`, within `timeoutMs`. On success the bytes
 * after the header are put back (`unshift`) and the socket is left paused, so whoever reads it
 * next gets the FTP stream from its first byte. On failure the socket is left to the caller to
 * close. The reader never reads past what it was given in one chunk, and the parser bounds the
 * header (v1 107 bytes, v2 16 + 2048), so a peer cannot make it buffer more.
 */
export function readProxyHeader(socket: net.Socket, timeoutMs: number): Promise<ProxyHeaderRead> {
  return new Promise((resolve) => {
    let received: Buffer = Buffer.alloc(0);
    const finish = (result: ProxyHeaderRead, rest?: Buffer): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onEnd);
      socket.pause();
      if (rest !== undefined && rest.length > 0) socket.unshift(rest);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
      const parsed = parseProxyHeader(received);
      if (parsed.kind === 'need-more') return;
      if (parsed.kind === 'ok') {
        finish({ ok: true, header: parsed.header }, received.subarray(parsed.consumed));
        return;
      }
      const missing = classifyFirstBytes(received) === 'not-header';
      finish({ ok: false, reason: missing ? 'proxy_header_missing' : 'proxy_header_invalid', detail: parsed.reason });
    };
    const onEnd = (): void => finish({ ok: false, reason: 'proxy_header_missing', detail: `closed after ${received.length} bytes, before a complete PROXY header` });
    const timer = setTimeout(
      () => finish({ ok: false, reason: 'proxy_header_missing', detail: `no complete PROXY header within ${timeoutMs} ms (${received.length} bytes read)` }),
      timeoutMs,
    );
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onEnd);
    // A passive port's socket comes paused (pauseOnConnect): a 'data' listener alone does not start it.
    socket.resume();
  });
}

/**
 * A connection from a source that is not trusted must never get a header past ftpmasq: one
 * trusted by the upstream's own PROXY support would name any client it likes. Its first bytes
 * are looked at before anyone else sees them (the socket's `emit` is wrapped until they are
 * decided, at most 12 bytes); a header calls `onHeader` and its bytes go nowhere; anything else
 * goes on unchanged, and the wrapper is removed. `'data'` listeners attached later still get
 * every byte in order, because bytes held while undecided are delivered as one chunk.
 */
export function refuseProxyHeaders(socket: net.Socket, onHeader: () => void): void {
  const originalEmit = socket.emit;
  const emit = (event: string | symbol, ...args: unknown[]): boolean => Reflect.apply(originalEmit, socket, [event, ...args]);
  let held: Buffer[] = [];
  const decide = (): void => {
    Reflect.deleteProperty(socket, 'emit');
  };
  const wrapped = (event: string | symbol, ...args: unknown[]): boolean => {
    const [chunk] = args;
    if (event === 'data' && Buffer.isBuffer(chunk)) {
      held.push(chunk);
      const first = held.length === 1 ? chunk : Buffer.concat(held);
      const kind = classifyFirstBytes(first);
      if (kind === 'undecided') return true;
      decide();
      held = [];
      if (kind === 'header') {
        onHeader();
        return true;
      }
      return emit('data', first);
    }
    if (event === 'end' && held.length > 0) {
      // A prefix of a header and then EOF: those bytes were never a header.
      decide();
      const first = Buffer.concat(held);
      held = [];
      emit('data', first);
    }
    return emit(event, ...args);
  };
  Reflect.set(socket, 'emit', wrapped);
}

/** The Conn of a connection whose PROXY header named the client (or, LOCAL/UNKNOWN, nobody). */
export function connFromHeader(conn: Conn, header: ProxyHeader): Conn {
  if (header.addresses === undefined) return conn;
  const { source, destination } = header.addresses;
  // `local` stays the socket's: passive ports are bound there and active dials leave from it.
  return { ...conn, peer: { host: normalizeAddress(source.host), port: source.port }, proxied: { via: conn.peer, target: destination } };
}

/**
 * The header ftpmasq sends first to the upstream for this client, or undefined when the site
 * sends none. The source is the client's real address; the destination is the address the
 * client connected to (the balancer's, when a header named it).
 */
export function upstreamProxyHeader(conn: Conn, purpose: 'control' | 'data'): Buffer | undefined {
  const upstream = conn.upstreamProxyHeader;
  if (upstream === undefined || (purpose === 'data' && !upstream.data)) return undefined;
  if (conn.peer.host === '' || conn.local.host === '') return undefined;
  const destination: ConnAddress = conn.proxied?.target ?? conn.local;
  return formatProxyHeader(upstream.version, conn.peer, destination);
}
