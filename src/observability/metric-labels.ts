/**
 * The closed label value sets of ftpmasq's own metrics: the one list each, used to zero-initialise
 * every series, to document the metrics and to type what sessions record; and, by metric, which
 * label takes which set (LABEL_VALUES).
 */
export const REWRITE_KINDS = ['pasv', 'epsv', 'port', 'eprt'] as const;
export const DATA_MODES = ['passive', 'active'] as const;
export const DIRECTIONS = ['to_client', 'to_server'] as const;
export const REFUSAL_REASONS = [
  'foreign_data_peer',
  'bounce_foreign_host',
  'bounce_privileged_port',
  'line_too_long',
  'session_limit',
  'passive_ports_exhausted',
  'auth_tls',
  'epsv_disabled',
  'active_disabled',
  'not_supported',
  'after_epsv_all',
  'ipv6_pasv',
  'bad_argument',
  'ambiguous_command',
  'login_timeout',
  'idle_timeout',
  'data_stall',
  'client_denied',
  'client_session_limit',
  'admission_unanswered',
  'tls_required',
  'clear_data_refused',
  'ccc_refused',
  'tls_pipelined',
  'tls_handshake',
  'tls_session_not_reused',
  'proxy_header_missing',
  'proxy_header_invalid',
  'proxy_header_untrusted',
] as const;
export const UPSTREAM_STAGES = ['connect', 'control', 'data_connect', 'bad_reply', 'greeting_timeout', 'reply_timeout'] as const;

export type RewriteKind = (typeof REWRITE_KINDS)[number];
export type DataMode = (typeof DATA_MODES)[number];
export type Direction = (typeof DIRECTIONS)[number];
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
export type UpstreamStage = (typeof UPSTREAM_STAGES)[number];

/**
 * `client_*`: ftpmasq is the TLS server, on the client's control connection or a client data
 * connection. `upstream`, `upstream_data`: ftpmasq is the TLS client of the server's control
 * connection or of one of its data connections (--upstream-tls).
 */
export const TLS_SIDES = ['client_control', 'client_data', 'upstream', 'upstream_data'] as const;
/**
 * `not_resumed`: a data connection that did not resume its control connection's session.
 * `untrusted`: the server's certificate failed verification (CA, name or pinned fingerprint).
 */
export const TLS_RESULTS = ['success', 'failure', 'not_resumed', 'untrusted'] as const;
/** Negotiated versions as label values (`TLSv1.3` from Node becomes `tls1_3`). */
export const TLS_PROTOCOLS = ['tls1_2', 'tls1_3'] as const;
export type TlsSide = (typeof TLS_SIDES)[number];
export type TlsResult = (typeof TLS_RESULTS)[number];

/** User routing: a login went to the upstream of a route that matched, or to the site's own upstream. */
export const ROUTED_VIA = ['route', 'upstream'] as const;
export type RoutedVia = (typeof ROUTED_VIA)[number];

/**
 * What became of a preconnected upstream connection: a session took it, it waited
 * upstreamPreconnectMaxAge, the server closed it first, the dial failed, or a reload or stop
 * closed it.
 */
export const PRECONNECT_OUTCOMES = ['used', 'expired', 'closed', 'failed', 'discarded'] as const;
export type PreconnectOutcome = (typeof PRECONNECT_OUTCOMES)[number];

export const RELOAD_RESULTS = ['success', 'failure'] as const;
export type ReloadOutcome = (typeof RELOAD_RESULTS)[number];

/** Kernel mode's nft processes: a one-shot `run` (start-up checks, the table) or the long-lived `session`. */
export const NFT_PROCESSES = ['run', 'session'] as const;
export type NftProcess = (typeof NFT_PROCESSES)[number];
/** Why the long-lived nft was ended: a request not answered in time, the process died, a reply too large. */
export const NFT_RESTART_REASONS = ['timeout', 'exited', 'overflow'] as const;
export type NftRestartReason = (typeof NFT_RESTART_REASONS)[number];

/**
 * The label every metric of a site carries. Its values are the site names of the configuration,
 * so the number of series grows with the sites an operator configures, never with traffic.
 */
export const SITE_LABEL = 'site';

/**
 * The closed label sets, by metric and label: the one description used to zero-initialise and to
 * test. The `site` label is not among them: its values come from the configuration.
 */
export const LABEL_VALUES: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>> = {
  ftpmasq_rewrites_total: { kind: REWRITE_KINDS },
  ftpmasq_data_connections_total: { mode: DATA_MODES },
  ftpmasq_data_bytes_total: { direction: DIRECTIONS },
  ftpmasq_refusals_total: { reason: REFUSAL_REASONS },
  ftpmasq_upstream_errors_total: { stage: UPSTREAM_STAGES },
  ftpmasq_config_reloads_total: { result: RELOAD_RESULTS },
  ftpmasq_tls_handshakes_total: { side: TLS_SIDES, result: TLS_RESULTS },
  ftpmasq_tls_protocols_total: { side: TLS_SIDES, protocol: TLS_PROTOCOLS },
  ftpmasq_routed_logins_total: { via: ROUTED_VIA },
  ftpmasq_upstream_preconnects_total: { outcome: PRECONNECT_OUTCOMES },
  ftpmasq_kernel_nft_processes_total: { process: NFT_PROCESSES },
  ftpmasq_kernel_nft_restarts_total: { cause: NFT_RESTART_REASONS },
};

/** Labels whose values are not a fixed list, and what the documentation says they hold. */
export const OPEN_LABELS: Readonly<Record<string, string>> = {
  [SITE_LABEL]: "the site's name from the configuration",
  hash: "the running configuration's hash",
  version: "ftpmasq's version, from its package.json (what `ftpmasq --version` prints)",
  node: 'the Node.js version running it, without the leading v',
};
