/**
 * Every option once: its config key, flag, value form, default, help text and whether it belongs
 * to the process or to one site. The flags, `--help`, the README's table, the zod document
 * schema (src/config/document-schema.ts) and the JSON Schema for editors all read from here.
 */
import { CIDR_FORM } from '../protocol/cidr.js';
import { ACTIVE_MODES, EPSV_MODES, LOG_LEVELS, MODES } from './types.js';
import { DURATION_FORM } from './values.js';
import { ACCESS_OPTION_SPECS } from './option-specs-access.js';
import { TLS_OPTION_SPECS } from './option-specs-tls.js';
import { PUBLIC_ADDRESS_OPTION_SPECS } from './option-specs-public-address.js';
import { UPSTREAM_TLS_OPTION_SPECS } from './option-specs-upstream-tls.js';
import { PROXYPROTO_OPTION_SPECS } from './option-specs-proxyproto.js';
import { SCALE_OPTION_SPECS } from './option-specs-scale.js';
import { WORKERS_OPTION_SPECS } from './option-specs-workers.js';
import { PRECONNECT_OPTION_SPECS } from './option-specs-preconnect.js';

/** The name of the one site that flags, or a file without `sites:`, describe. */
export const DEFAULT_SITE_NAME = 'default';

/** The timeout defaults in milliseconds; OPTION_SPECS holds the same values as text. */
export const DEFAULT_TIMEOUTS_MS = {
  greeting: 10_000,
  login: 60_000,
  idle: 600_000,
  dataStall: 300_000,
  reply: 60_000,
  drain: 30_000,
} as const;

/** Raw option values as strings, the way a command line hands them over. */
export interface RawOptions {
  listen?: string | readonly string[];
  upstream?: string;
  publicAddress?: string;
  publicAddressRefresh?: string;
  upstreamPreconnect?: string;
  upstreamPreconnectMaxAge?: string;
  passivePorts?: string;
  mode?: string;
  epsv?: string;
  active?: string;
  logLevel?: string;
  metricsListen?: string;
  passiveTimeout?: string;
  upstreamConnectTimeout?: string;
  maxSessions?: string;
  greetingTimeout?: string;
  loginTimeout?: string;
  idleTimeout?: string;
  dataStallTimeout?: string;
  replyTimeout?: string;
  maxCommandBytes?: string;
  drainTimeout?: string;
  allowClients?: string | readonly string[];
  denyClients?: string | readonly string[];
  maxSessionsPerClient?: string;
  tlsCert?: string;
  tlsListen?: string | readonly string[];
  tlsKey?: string;
  clientTls?: string;
  dataTlsReuse?: string;
  allowClearData?: string;
  upstreamTls?: string;
  upstreamTlsCa?: string;
  upstreamTlsFingerprint?: string;
  allowPlainClients?: string;
  proxyProtocolData?: string;
  upstreamProxyProtocol?: string;
  upstreamProxyProtocolData?: string;
  passivePortSlice?: string;
  passivePortSharing?: string;
  advertisedPassivePortOffset?: string;
  workers?: string;
}

/** The options that take a list: repeated flags, a YAML list in a file. */
export type ListOptionKey = 'listen' | 'tlsListen' | 'allowClients' | 'denyClients';

/**
 * `process`: one value for the whole daemon, at the top of the file. `site`: a key of each site;
 * as a flag it describes the one site of a command line or of a file without `sites:`.
 */
export type OptionScope = 'process' | 'site';

export interface OptionSpec {
  readonly key: keyof RawOptions;
  readonly flag: string;
  readonly valueName: string;
  readonly description: string;
  readonly defaultValue: string | undefined;
  readonly scope: OptionScope;
  readonly repeatable?: boolean;
}

export const OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'listen',
    flag: '--listen',
    valueName: 'HOST:PORT',
    description: 'address for client control connections; repeat for several (e.g. [::]:21)',
    defaultValue: '0.0.0.0:21',
    scope: 'site',
    repeatable: true,
  },
  {
    key: 'upstream',
    flag: '--upstream',
    valueName: 'HOST:PORT',
    description: 'the FTP server behind ftpmasq (required)',
    defaultValue: undefined,
    scope: 'site',
  },
  {
    key: 'publicAddress',
    flag: '--public-address',
    valueName: 'IP|HOST',
    description:
      "address advertised to clients in 227 replies, or a DNS name re-resolved every publicAddressRefresh (default: the local address of the client's control connection)",
    defaultValue: undefined,
    scope: 'site',
  },
  {
    key: 'passivePorts',
    flag: '--passive-ports',
    valueName: 'LOW-HIGH',
    description: "ftpmasq's own passive port range for relayed data connections",
    defaultValue: '60000-60999',
    scope: 'site',
  },
  {
    key: 'mode',
    flag: '--mode',
    valueName: MODES.join('|'),
    description:
      'relay: data flows through ftpmasq; kernel: as relay for clients, but nftables forwards each transfer (Linux, CAP_NET_ADMIN); rewrite: only 227 addresses are rewritten, data goes by NAT',
    defaultValue: 'relay',
    scope: 'site',
  },
  {
    key: 'epsv',
    flag: '--epsv',
    valueName: EPSV_MODES.join('|'),
    description: 'EPSV handling: pass to the server, answer it with PASV upstream, or refuse it',
    defaultValue: 'passthrough',
    scope: 'site',
  },
  {
    key: 'active',
    flag: '--active',
    valueName: ACTIVE_MODES.join('|'),
    description: 'PORT/EPRT: relay through ftpmasq (bounce-checked) or refuse with 502',
    defaultValue: 'relay',
    scope: 'site',
  },
  { key: 'logLevel', flag: '--log-level', valueName: LOG_LEVELS.join('|'), description: 'log level', defaultValue: 'info', scope: 'process' },
  {
    key: 'metricsListen',
    flag: '--metrics-listen',
    valueName: 'HOST:PORT|off',
    description: 'address for /metrics, /healthz, /readyz and the live view (/sessions, /), or off',
    defaultValue: '127.0.0.1:9464',
    scope: 'process',
  },
  {
    key: 'passiveTimeout',
    flag: '--passive-timeout',
    valueName: 'DURATION',
    description: 'how long a passive port waits for the client to connect',
    defaultValue: '30s',
    scope: 'site',
  },
  {
    key: 'upstreamConnectTimeout',
    flag: '--upstream-connect-timeout',
    valueName: 'DURATION',
    description: 'how long to wait for the upstream to accept a connection',
    defaultValue: '10s',
    scope: 'site',
  },
  {
    key: 'maxSessions',
    flag: '--max-sessions',
    valueName: 'N',
    description: 'concurrent client sessions; more get 421',
    defaultValue: '10000',
    scope: 'site',
  },
  {
    key: 'greetingTimeout',
    flag: '--greeting-timeout',
    valueName: 'DURATION',
    description: "how long to wait for the upstream's 220 greeting; the client then gets 421",
    defaultValue: '10s',
    scope: 'site',
  },
  {
    key: 'loginTimeout',
    flag: '--login-timeout',
    valueName: 'DURATION',
    description: 'how long a client may take from the greeting to a successful login; then 421',
    defaultValue: '60s',
    scope: 'site',
  },
  {
    key: 'idleTimeout',
    flag: '--idle-timeout',
    valueName: 'DURATION',
    description: 'a session with no command from the client and no transfer running for this long gets 421 and is closed',
    defaultValue: '600s',
    scope: 'site',
  },
  {
    key: 'dataStallTimeout',
    flag: '--data-stall-timeout',
    valueName: 'DURATION',
    description: 'a data connection that moves no byte either way for this long is closed',
    defaultValue: '300s',
    scope: 'site',
  },
  {
    key: 'replyTimeout',
    flag: '--reply-timeout',
    valueName: 'DURATION',
    description: 'how long the upstream may take to answer a command (not counting while data flows); then 421 and close',
    defaultValue: '60s',
    scope: 'site',
  },
  {
    key: 'maxCommandBytes',
    flag: '--max-command-bytes',
    valueName: 'N',
    description: 'longest client command line, CRLF included (128 to 4096); a longer one gets 500 and never reaches the server',
    defaultValue: '4096',
    scope: 'site',
  },
  {
    key: 'drainTimeout',
    flag: '--drain-timeout',
    valueName: 'DURATION',
    description: 'on SIGTERM/SIGINT, how long running transfers may finish before everything is closed',
    defaultValue: '30s',
    scope: 'process',
  },
  ...ACCESS_OPTION_SPECS,
  ...TLS_OPTION_SPECS,
  ...PUBLIC_ADDRESS_OPTION_SPECS,
  ...PRECONNECT_OPTION_SPECS,
  ...UPSTREAM_TLS_OPTION_SPECS,
  ...PROXYPROTO_OPTION_SPECS,
  ...SCALE_OPTION_SPECS,
  ...WORKERS_OPTION_SPECS,
];

/** Sets a list option's values, however many the flags or the file gave. */
export function setListOption(raw: RawOptions, key: ListOptionKey, values: readonly string[]): void {
  raw[key] = values;
}

export function isListOption(key: keyof RawOptions): key is ListOptionKey {
  return key === 'listen' || key === 'tlsListen' || key === 'allowClients' || key === 'denyClients';
}

export function specOf(key: keyof RawOptions): OptionSpec {
  const spec = OPTION_SPECS.find((candidate) => candidate.key === key);
  if (spec === undefined) throw new Error(`unknown option ${key}`);
  return spec;
}

/** The spec of a key name from a document or an issue path; undefined for keys that are not options. */
export function findSpec(key: PropertyKey): OptionSpec | undefined {
  return OPTION_SPECS.find((candidate) => candidate.key === key);
}

const FORM_OF_VALUE_NAME: Readonly<Record<string, string>> = {
  DURATION: DURATION_FORM,
  N: 'a whole number',
  IP: 'an IPv4 or IPv6 address',
  'IP|HOST': 'an IPv4 or IPv6 address, or a DNS name',
  'LOW-HIGH': 'LOW-HIGH (e.g. 60000-60999)',
  CIDR: CIDR_FORM,
  'N|unlimited': 'a whole number or unlimited',
  FILE: 'a file path',
};

/** The value's form in words, for errors about a value of the wrong type and for the JSON Schema. */
export function valueFormOf(spec: OptionSpec): string {
  return FORM_OF_VALUE_NAME[spec.valueName] ?? spec.valueName;
}
