import net from 'node:net';
import type { Duplex } from 'node:stream';
import { normalizeAddress } from '../protocol/address-policy.js';
import type { Cidr } from '../protocol/cidr.js';
import type { ProxyHeaderVersion } from '../protocol/proxy-header.js';

/** A host (normalized: an IPv4-mapped IPv6 address is written as IPv4) and a port. */
export interface ConnAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * What a TLS layer under the connection established. Empty until ftpmasq terminates FTPS: the
 * slot is here so a session that reads `conn.tls` today reads the same field then.
 */
export interface ConnTls {
  /** The negotiated protocol, as `tls.TLSSocket.getProtocol()` names it (`TLSv1.3`). */
  readonly protocol: string;
  /** Kept so the data connections can resume the control connection's TLS session. */
  readonly session: Buffer | undefined;
}

/**
 * One connection as a session sees it: the byte stream, and what the session may trust about the
 * two ends. The addresses are taken once, where the connection is made (a listener's accept, the
 * dial), so a later layer (a PROXY header, a TLS upgrade) can name the real peer without the
 * session reading anything off a socket.
 */
export interface Conn {
  /** Any duplex: a net.Socket today, a TLS socket or a stream behind a PROXY header later. */
  readonly stream: Duplex;
  readonly peer: ConnAddress;
  readonly local: ConnAddress;
  readonly tls: ConnTls | undefined;
  /**
   * Set when a PROXY header named the client: `peer` is then the header's client, `via` the
   * socket's own peer (the load balancer) and `target` the address the client connected to.
   */
  readonly proxied?: { readonly via: ConnAddress; readonly target: ConnAddress } | undefined;
  /** proxyProtocolData: the session's passive data connections from these sources start with a header. */
  readonly dataProxyHeaders?: { readonly trusted: readonly Cidr[]; readonly timeoutMs: number } | undefined;
  /** upstreamProxyProtocol: the header ftpmasq sends first to the upstream; on data connections too when `data`. */
  readonly upstreamProxyHeader?: { readonly version: ProxyHeaderVersion; readonly data: boolean } | undefined;
}

/**
 * The Conn of a plain TCP socket, accepted or dialled. A socket destroyed before this runs has
 * no addresses left: its host is `''` and its port 0, which no address rule accepts, and the
 * session that gets it sees the socket's close at once.
 */
export function connFromSocket(socket: net.Socket): Conn {
  return {
    stream: socket,
    peer: { host: normalizeSocketAddress(socket.remoteAddress), port: socket.remotePort ?? 0 },
    local: { host: normalizeSocketAddress(socket.localAddress), port: socket.localPort ?? 0 },
    tls: undefined,
  };
}

/**
 * A socket names an IPv4 peer in dotted-quad form already: only an address with a colon (IPv6,
 * IPv4-mapped IPv6) needs parsing, which costs more than the rest of making a Conn.
 */
function normalizeSocketAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.includes(':') ? normalizeAddress(address) : address;
}

/** Idle TCP keepalive probes start after this: well below the 350 s idle timeout of AWS NLB. */
export const CONTROL_KEEPALIVE_MS = 60_000;

/**
 * Socket options of a control connection. No Nagle delay: replies are small and each one is
 * awaited. TCP keepalive: a control connection is silent through a long transfer, and a load
 * balancer or NAT on the path that forgets idle flows would cut it and lose the final reply.
 * A stream that is not a socket has neither option.
 */
export function tuneControlStream(stream: Duplex): void {
  if (!(stream instanceof net.Socket)) return;
  stream.setNoDelay(true);
  stream.setKeepAlive(true, CONTROL_KEEPALIVE_MS);
}
