/**
 * A site's side of the PROXY protocol at accept time (issue 15 item 4): from a trusted source the
 * header is read before anything else happens, and its client replaces the socket's peer in the
 * Conn, so access lists, limits, `advertise`, the data-peer check, logs and metrics all see the
 * real client; from anyone else a header is refused. docs/SECURITY.md lists each rule and its test.
 */
import type net from 'node:net';
import type { ProxyProtocolConfig, SiteConfig } from '../config/types.js';
import type { Conn } from '../net/conn.js';
import { connFromHeader, readProxyHeader, refuseProxyHeaders } from '../net/proxy-header-io.js';
import type { Logger } from '../observability/logger.js';
import type { SiteMetrics } from '../observability/metrics.js';
import { matchesAny } from '../protocol/cidr.js';

/** The site's PROXY settings a session needs later (data connections, the upstream dial), on its Conn. */
export function withProxySettings(conn: Conn, site: SiteConfig): Conn {
  const { proxyProtocol, upstreamProxyProtocol } = site;
  return {
    ...conn,
    ...(proxyProtocol === undefined || !site.proxyProtocolData ? {} : { dataProxyHeaders: { trusted: proxyProtocol.trusted, timeoutMs: proxyProtocol.timeoutMs } }),
    ...(upstreamProxyProtocol === 'off' ? {} : { upstreamProxyHeader: { version: upstreamProxyProtocol, data: site.upstreamProxyProtocolData } }),
  };
}

/**
 * The Conn a session gets on a site with `proxyProtocol`, or undefined when the connection was
 * refused (counted, logged with the socket's address, destroyed). A trusted source must send a
 * complete header within the timeout; v2 LOCAL and v1 UNKNOWN (health checks) keep the socket's
 * own addresses. Anyone else is watched: a header as its first bytes closes it.
 */
export async function acceptProxyHeader(
  socket: net.Socket,
  conn: Conn,
  config: ProxyProtocolConfig,
  metrics: SiteMetrics,
  logger: Logger,
): Promise<Conn | undefined> {
  const source = conn.peer.host;
  if (!matchesAny(config.trusted, source)) {
    refuseProxyHeaders(socket, () => {
      metrics.refuse('proxy_header_untrusted');
      logger.warn({ client: source }, 'PROXY header from a source not in proxyProtocol.trusted: closed');
      socket.destroy();
    });
    return conn;
  }
  socket.on('error', ignoreError);
  const read = await readProxyHeader(socket, config.timeoutMs);
  socket.off('error', ignoreError);
  if (!read.ok) {
    metrics.refuse(read.reason);
    logger.warn({ via: `${source}:${conn.peer.port}`, detail: read.detail }, 'trusted source without a valid PROXY header: closed');
    socket.destroy();
    return undefined;
  }
  const named = connFromHeader(conn, read.header);
  logger.debug({ client: `${named.peer.host}:${named.peer.port}`, via: `${source}:${conn.peer.port}`, version: read.header.version }, 'PROXY header');
  return named;
}

function ignoreError(): void {}
