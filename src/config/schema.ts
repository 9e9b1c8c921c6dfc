/**
 * The one description of every option: its flag, default, help text and parser.
 * The CLI, the README's option table and the config validation all read from here.
 */
import { ACTIVE_MODES, type DaemonConfig, EPSV_MODES, LOG_LEVELS, MODES } from './types.js';
import {
  ConfigError,
  parseChoice,
  parseDuration,
  parseEndpoint,
  parseIpAddress,
  parsePortRange,
  parsePositiveInteger,
} from './values.js';

export { ACTIVE_MODES, EPSV_MODES, LOG_LEVELS, MODES } from './types.js';
export type { ActiveMode, DaemonConfig, EpsvMode, LogLevel, Mode, SiteConfig } from './types.js';

/** The name of the one site the flags describe. */
export const DEFAULT_SITE_NAME = 'default';

/** Timeouts that have no flag yet: the defaults every site gets. */
export const DEFAULT_TIMEOUTS_MS = {
  greeting: 10_000,
  login: 60_000,
  idle: 600_000,
  dataStall: 300_000,
  drain: 30_000,
} as const;

/** Raw option values as strings, the way a command line or a config file hands them over. */
export interface RawOptions {
  listen?: string | readonly string[];
  upstream?: string;
  publicAddress?: string;
  passivePorts?: string;
  mode?: string;
  epsv?: string;
  active?: string;
  logLevel?: string;
  metricsListen?: string;
  passiveTimeout?: string;
  upstreamConnectTimeout?: string;
  maxSessions?: string;
}

export interface OptionSpec {
  readonly key: keyof RawOptions;
  readonly flag: string;
  readonly valueName: string;
  readonly description: string;
  readonly defaultValue: string | undefined;
  readonly repeatable?: boolean;
}

export const OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'listen',
    flag: '--listen',
    valueName: 'HOST:PORT',
    description: 'address for client control connections; repeat for several (e.g. [::]:21)',
    defaultValue: '0.0.0.0:21',
    repeatable: true,
  },
  { key: 'upstream', flag: '--upstream', valueName: 'HOST:PORT', description: 'the FTP server behind ftpmasq (required)', defaultValue: undefined },
  {
    key: 'publicAddress',
    flag: '--public-address',
    valueName: 'IP',
    description: "address advertised to clients in 227 replies (default: the local address of the client's control connection)",
    defaultValue: undefined,
  },
  {
    key: 'passivePorts',
    flag: '--passive-ports',
    valueName: 'LOW-HIGH',
    description: "ftpmasq's own passive port range for relayed data connections",
    defaultValue: '60000-60999',
  },
  {
    key: 'mode',
    flag: '--mode',
    valueName: MODES.join('|'),
    description: 'relay: data flows through ftpmasq; rewrite: only 227 addresses are rewritten, data goes by NAT',
    defaultValue: 'relay',
  },
  {
    key: 'epsv',
    flag: '--epsv',
    valueName: EPSV_MODES.join('|'),
    description: 'EPSV handling: pass to the server, answer it with PASV upstream, or refuse it',
    defaultValue: 'passthrough',
  },
  {
    key: 'active',
    flag: '--active',
    valueName: ACTIVE_MODES.join('|'),
    description: 'PORT/EPRT: relay through ftpmasq (bounce-checked) or refuse with 502',
    defaultValue: 'relay',
  },
  { key: 'logLevel', flag: '--log-level', valueName: LOG_LEVELS.join('|'), description: 'log level', defaultValue: 'info' },
  {
    key: 'metricsListen',
    flag: '--metrics-listen',
    valueName: 'HOST:PORT|off',
    description: 'address for /metrics, /healthz and /readyz, or off',
    defaultValue: '127.0.0.1:9464',
  },
  {
    key: 'passiveTimeout',
    flag: '--passive-timeout',
    valueName: 'DURATION',
    description: 'how long a passive port waits for the client to connect',
    defaultValue: '30s',
  },
  {
    key: 'upstreamConnectTimeout',
    flag: '--upstream-connect-timeout',
    valueName: 'DURATION',
    description: 'how long to wait for the upstream to accept a connection',
    defaultValue: '10s',
  },
  {
    key: 'maxSessions',
    flag: '--max-sessions',
    valueName: 'N',
    description: 'concurrent client sessions; more get 421',
    defaultValue: '10000',
  },
];

function defaultOf(key: keyof RawOptions): string {
  const spec = OPTION_SPECS.find((candidate) => candidate.key === key);
  if (spec?.defaultValue === undefined) throw new Error(`option ${key} has no default`);
  return spec.defaultValue;
}

function flagOf(key: keyof RawOptions): string {
  const spec = OPTION_SPECS.find((candidate) => candidate.key === key);
  if (spec === undefined) throw new Error(`unknown option ${key}`);
  return spec.flag;
}

/** Validates raw option values into a one-site configuration; throws ConfigError on the first bad value. */
export function buildConfig(raw: RawOptions): DaemonConfig {
  const listenValues = raw.listen === undefined ? [defaultOf('listen')] : [raw.listen].flat();
  if (listenValues.length === 0) listenValues.push(defaultOf('listen'));
  const listen = listenValues.map((value) =>
    parseEndpoint(flagOf('listen'), value, { allowHostname: false, allowPortZero: true }),
  );
  if (raw.upstream === undefined) throw new ConfigError(flagOf('upstream'), 'HOST:PORT (required)', '');
  const upstream = parseEndpoint(flagOf('upstream'), raw.upstream, { allowHostname: true, allowPortZero: false });
  const publicAddress =
    raw.publicAddress === undefined ? undefined : parseIpAddress(flagOf('publicAddress'), raw.publicAddress);
  const metricsText = raw.metricsListen ?? defaultOf('metricsListen');
  const metricsListen =
    metricsText === 'off'
      ? undefined
      : parseEndpoint(flagOf('metricsListen'), metricsText, { allowHostname: false, allowPortZero: true });
  return {
    logLevel: parseChoice(flagOf('logLevel'), raw.logLevel ?? defaultOf('logLevel'), LOG_LEVELS),
    metricsListen,
    drainTimeoutMs: DEFAULT_TIMEOUTS_MS.drain,
    sites: [
      {
        name: DEFAULT_SITE_NAME,
        listen,
        upstream,
        publicAddress,
        passivePorts: parsePortRange(flagOf('passivePorts'), raw.passivePorts ?? defaultOf('passivePorts')),
        mode: parseChoice(flagOf('mode'), raw.mode ?? defaultOf('mode'), MODES),
        epsv: parseChoice(flagOf('epsv'), raw.epsv ?? defaultOf('epsv'), EPSV_MODES),
        active: parseChoice(flagOf('active'), raw.active ?? defaultOf('active'), ACTIVE_MODES),
        passiveTimeoutMs: parseDuration(flagOf('passiveTimeout'), raw.passiveTimeout ?? defaultOf('passiveTimeout')),
        upstreamConnectTimeoutMs: parseDuration(
          flagOf('upstreamConnectTimeout'),
          raw.upstreamConnectTimeout ?? defaultOf('upstreamConnectTimeout'),
        ),
        maxSessions: parsePositiveInteger(flagOf('maxSessions'), raw.maxSessions ?? defaultOf('maxSessions')),
        greetingTimeoutMs: DEFAULT_TIMEOUTS_MS.greeting,
        loginTimeoutMs: DEFAULT_TIMEOUTS_MS.login,
        idleTimeoutMs: DEFAULT_TIMEOUTS_MS.idle,
        dataStallTimeoutMs: DEFAULT_TIMEOUTS_MS.dataStall,
      },
    ],
  };
}
