/**
 * What a validated configuration is: process-level settings and a list of sites. A site is one
 * proxy (its listeners, one upstream, its passive range and policy); a session keeps the snapshot
 * of its site it started with, so a reload never changes a running session.
 */
import type { Cidr } from '../protocol/cidr.js';
import type { UserRoute } from '../site/user-routes.js';
import type { Endpoint, PortRange } from './values.js';

export const MODES = ['relay', 'rewrite', 'kernel'] as const;
export const EPSV_MODES = ['passthrough', 'translate', 'disable'] as const;
export const ACTIVE_MODES = ['relay', 'disable'] as const;
export const CLIENT_TLS_MODES = ['optional', 'required'] as const;
/** `off`: ftpmasq sends no PROXY header to the upstream. */
export const UPSTREAM_PROXY_PROTOCOLS = ['off', 'v1', 'v2'] as const;
export const DATA_TLS_REUSE_MODES = ['required', 'optional'] as const;
export const UPSTREAM_TLS_MODES = ['off', 'explicit', 'implicit'] as const;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export type Mode = (typeof MODES)[number];
export type EpsvMode = (typeof EPSV_MODES)[number];
export type ActiveMode = (typeof ACTIVE_MODES)[number];
export type LogLevel = (typeof LOG_LEVELS)[number];
export type ClientTlsMode = (typeof CLIENT_TLS_MODES)[number];
export type UpstreamProxyProtocol = (typeof UPSTREAM_PROXY_PROTOCOLS)[number];
export type DataTlsReuseMode = (typeof DATA_TLS_REUSE_MODES)[number];
export type UpstreamTlsMode = (typeof UPSTREAM_TLS_MODES)[number];

/**
 * How the upstream's certificate is checked; never not at all. `system`: Node's bundled CAs and
 * the name (or IP) of `upstream`; `ca`: the same against the given CAs only; `fingerprint`: the
 * leaf certificate's SHA-256 must be this one (upper-case hex, no colons), whoever issued it.
 */
export type UpstreamTlsVerify =
  | { readonly kind: 'system' }
  | { readonly kind: 'ca'; readonly caFile: string; readonly ca: string }
  | { readonly kind: 'fingerprint'; readonly sha256: string };

/** TLS towards the upstream server, present when `upstreamTls` is not `off`. */
export interface UpstreamTls {
  /** `explicit`: AUTH TLS, PBSZ 0, PROT P sent by ftpmasq after the greeting; `implicit`: TLS from the first byte. */
  readonly mode: Exclude<UpstreamTlsMode, 'off'>;
  readonly verify: UpstreamTlsVerify;
  /** `false`: a client whose control connection is plain gets 530 to USER/PASS/ACCT. */
  readonly allowPlainClients: boolean;
}

/**
 * FTPS towards clients (RFC 4217), present when the site has a certificate. The PEM text is read
 * when the configuration is loaded (and so again on every reload): a changed certificate is a
 * changed site, and an unreadable one fails the load or the reload, never a session.
 */
export interface SiteTls {
  readonly certFile: string;
  readonly keyFile: string;
  /** PEM text of the certificate (chain) and of its private key. */
  readonly cert: string;
  readonly key: string;
  /** `required`: a plain USER/PASS gets 530 and never reaches the upstream. */
  readonly clientTls: ClientTlsMode;
  /** `required`: a PROT P data connection must resume its control connection's TLS session. */
  readonly dataTlsReuse: DataTlsReuseMode;
  /** `false`: PROT C is refused once the control connection is TLS. */
  readonly allowClearData: boolean;
  /** Implicit FTPS listeners (`tlsListen`, port 990): TLS from the first byte. */
  readonly implicitListen: readonly Endpoint[];
}

/** One proxied server and how ftpmasq stands in front of it. Immutable: a reload makes a new one. */
export interface SiteConfig {
  /** Unique within the document; the `site` label of every metric and log line of the site. */
  readonly name: string;
  readonly listen: readonly Endpoint[];
  readonly upstream: Endpoint;
  /**
   * Advertised to clients: an IP address, or a DNS name resolved (IPv4) every
   * `publicAddressRefreshMs`; undefined means the local address of each client's control connection.
   */
  readonly publicAddress: string | undefined;
  readonly publicAddressRefreshMs: number;
  readonly passivePorts: PortRange;
  readonly mode: Mode;
  readonly epsv: EpsvMode;
  readonly active: ActiveMode;
  readonly passiveTimeoutMs: number;
  readonly upstreamConnectTimeoutMs: number;
  readonly maxSessions: number;
  /** From the upstream's accept until its 220; the client gets 421 when it runs out. */
  readonly greetingTimeoutMs: number;
  /** From the greeting until a 230; the client gets 421 when it runs out. */
  readonly loginTimeoutMs: number;
  /** No command from the client for this long, and no transfer running: 421 and close. */
  readonly idleTimeoutMs: number;
  /** A data connection that moves no byte either way for this long is closed. */
  readonly dataStallTimeoutMs: number;
  /** FTPS for clients; absent without a certificate. */
  readonly tls?: SiteTls | undefined;
  /** TLS towards the server; absent with `upstreamTls: off`. */
  readonly upstreamTls?: UpstreamTls | undefined;
  /**
   * A command forwarded upstream must be answered within this long (not counting time while a
   * data connection of the session is open): 421 and close.
   */
  readonly replyTimeoutMs: number;
  /** The longest client command line, its line ending included; a longer one gets 500 locally. */
  readonly maxCommandBytes: number;
  /** Clients that may connect; empty means everyone. `denyClients` wins over it. */
  readonly allowClients: readonly Cidr[];
  /** Clients refused with 421 before any upstream connection. */
  readonly denyClients: readonly Cidr[];
  /** Concurrent sessions from one client address; undefined means no limit but `maxSessions`. */
  readonly maxSessionsPerClient: number | undefined;
  /** Relay mode: the address a 227 names for clients of the first rule that matches; `publicAddress` otherwise. */
  readonly advertise: readonly AdvertiseRule[];
  /** Rewrite mode: clients that get the server's own 227 unchanged (they reach it directly). */
  readonly passThroughClients: readonly Cidr[];
  /**
   * User routing: with routes, ftpmasq greets the client itself and connects, at USER, to the
   * upstream of the first route matching the name (`upstream` when none does). Empty: the server greets.
   */
  readonly routes: readonly UserRoute[];
  /** PROXY protocol from a load balancer in front; undefined: no header is read, and one sent is refused. */
  readonly proxyProtocol: ProxyProtocolConfig | undefined;
  /** Passive data connections from `proxyProtocol.trusted` carry a header too. */
  readonly proxyProtocolData: boolean;
  /** The PROXY header ftpmasq sends first on its control connection to the upstream. */
  readonly upstreamProxyProtocol: UpstreamProxyProtocol;
  /** And on its data connections to the upstream. */
  readonly upstreamProxyProtocolData: boolean;
  /**
   * This replica's slice of the configured range (`range`), when one is set; `passivePorts` is
   * then that slice. `index` is resolved (`auto` read the host name's ordinal).
   */
  readonly passivePortSlice?: { readonly index: number; readonly count: number; readonly range: PortRange } | undefined;
  /** One passive port may wait for several sessions whose client addresses differ (absent: false). */
  readonly passivePortSharing?: boolean;
  /** Added to the bound passive port in the 227/229 a client is told (NodePort, balancer mappings; absent: 0). */
  readonly advertisedPassivePortOffset?: number;
  /** Upstream control connections kept dialled and greeted for the next sessions (absent: none). */
  readonly upstreamPreconnect?: number;
  /** How long such a connection waits for a client before ftpmasq closes it (absent with upstreamPreconnect). */
  readonly upstreamPreconnectMaxAgeMs?: number;
}

/** Connections from these sources must start with a PROXY header, within the timeout. */
export interface ProxyProtocolConfig {
  readonly trusted: readonly Cidr[];
  readonly timeoutMs: number;
}

/** Split horizon: clients from these blocks are told this address in a 227. */
export interface AdvertiseRule {
  readonly clients: readonly Cidr[];
  readonly address: string;
}

/**
 * The whole document: process-level keys and the sites. Made only by validation: `loadConfig`
 * (load-config.ts) for a file and flags, `buildConfig` (schema.ts) for flags alone.
 */
export interface DaemonConfig {
  readonly logLevel: LogLevel;
  readonly metricsListen: Endpoint | undefined;
  /** How long SIGTERM/SIGINT waits for running transfers before closing everything. */
  readonly drainTimeoutMs: number;
  /**
   * Worker processes as set (docs/DESIGN.md, "Workers"); 1: this process serves alone; absent:
   * auto, the cores capped by the passive ranges (resolveWorkers in process-fields-workers.ts).
   */
  readonly workers?: number;
  readonly sites: readonly SiteConfig[];
}
