/**
 * The effective configuration as YAML, every default filled in: what `ftpmasq check-config`
 * prints. The text is itself a valid config file in the `sites:` form that loads to the same
 * DaemonConfig (and so the same hash).
 */
import { Document } from 'yaml';
import { formatCidr } from '../protocol/cidr.js';
import type { LoadedConfig } from './load-config.js';
import { DEFAULT_PRECONNECT_MAX_AGE_MS } from './option-specs-preconnect.js';
import type { DaemonConfig, SiteConfig, UpstreamTls } from './types.js';
import { formatDuration, formatEndpoint, formatPortRange } from './values.js';

function siteDocument(site: SiteConfig): Record<string, unknown> {
  return {
    name: site.name,
    listen: site.listen.map(formatEndpoint),
    upstream: formatEndpoint(site.upstream),
    // No value means the local address of each client's control connection: the key stays out.
    ...(site.publicAddress === undefined ? {} : { publicAddress: site.publicAddress }),
    publicAddressRefresh: formatDuration(site.publicAddressRefreshMs),
    // The configured range and the resolved slice of it, which load back to the same slice.
    passivePorts: formatPortRange(site.passivePortSlice?.range ?? site.passivePorts),
    ...(site.passivePortSlice === undefined ? {} : { passivePortSlice: `${site.passivePortSlice.index}/${site.passivePortSlice.count}` }),
    mode: site.mode,
    epsv: site.epsv,
    active: site.active,
    passiveTimeout: formatDuration(site.passiveTimeoutMs),
    upstreamConnectTimeout: formatDuration(site.upstreamConnectTimeoutMs),
    maxSessions: site.maxSessions,
    greetingTimeout: formatDuration(site.greetingTimeoutMs),
    loginTimeout: formatDuration(site.loginTimeoutMs),
    idleTimeout: formatDuration(site.idleTimeoutMs),
    dataStallTimeout: formatDuration(site.dataStallTimeoutMs),
    allowClients: site.allowClients.map(formatCidr),
    denyClients: site.denyClients.map(formatCidr),
    maxSessionsPerClient: site.maxSessionsPerClient ?? 'unlimited',
    advertise: site.advertise.map((rule) => ({ clients: rule.clients.map(formatCidr), address: rule.address })),
    passThroughClients: site.passThroughClients.map(formatCidr),
    replyTimeout: formatDuration(site.replyTimeoutMs),
    maxCommandBytes: site.maxCommandBytes,
    upstreamPreconnect: site.upstreamPreconnect ?? 0,
    upstreamPreconnectMaxAge: formatDuration(site.upstreamPreconnectMaxAgeMs ?? DEFAULT_PRECONNECT_MAX_AGE_MS),
    routes: site.routes.map((route) => ({ user: route.user, upstream: formatEndpoint(route.upstream) })),
    ...(site.proxyProtocol === undefined
      ? {}
      : { proxyProtocol: { trusted: site.proxyProtocol.trusted.map(formatCidr), timeout: formatDuration(site.proxyProtocol.timeoutMs) } }),
    proxyProtocolData: site.proxyProtocolData,
    upstreamProxyProtocol: site.upstreamProxyProtocol,
    upstreamProxyProtocolData: site.upstreamProxyProtocolData,
    passivePortSharing: site.passivePortSharing ?? false,
    advertisedPassivePortOffset: site.advertisedPassivePortOffset ?? 0,
    // The file names only: the key itself never appears in what check-config prints.
    ...(site.tls === undefined
      ? {}
      : {
          tlsCert: site.tls.certFile,
          tlsKey: site.tls.keyFile,
          ...(site.tls.implicitListen.length === 0 ? {} : { tlsListen: site.tls.implicitListen.map(formatEndpoint) }),
          clientTls: site.tls.clientTls,
          dataTlsReuse: site.tls.dataTlsReuse,
          allowClearData: site.tls.allowClearData,
        }),
    ...(site.upstreamTls === undefined ? {} : upstreamTlsDocument(site.upstreamTls)),
  };
}

/** The CA file's name, never its text; a pin as ftpmasq keeps it (hex without colons). */
function upstreamTlsDocument(upstreamTls: UpstreamTls): Record<string, unknown> {
  const { verify } = upstreamTls;
  return {
    upstreamTls: upstreamTls.mode,
    ...(verify.kind === 'ca' ? { upstreamTlsCa: verify.caFile } : {}),
    ...(verify.kind === 'fingerprint' ? { upstreamTlsFingerprint: verify.sha256 } : {}),
    allowPlainClients: upstreamTls.allowPlainClients,
  };
}

/** The configuration in the keys and text forms of a config file with `sites:`. */
export function effectiveDocument(config: DaemonConfig): Record<string, unknown> {
  return {
    logLevel: config.logLevel,
    metricsListen: config.metricsListen === undefined ? 'off' : formatEndpoint(config.metricsListen),
    drainTimeout: formatDuration(config.drainTimeoutMs),
    workers: config.workers ?? 'auto',
    sites: config.sites.map(siteDocument),
  };
}

/** YAML with the source and the hash in comments at the top, so the output stays a loadable file. */
export function renderEffectiveConfig(loaded: LoadedConfig): string {
  const document = new Document(effectiveDocument(loaded.config));
  document.commentBefore = [
    ` ${loaded.source}: valid. The effective configuration, every default filled in:`,
    ` hash: ${loaded.hash}`,
  ].join('\n');
  return document.toString({ lineWidth: 0 });
}
