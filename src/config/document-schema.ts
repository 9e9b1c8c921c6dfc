/**
 * The config document as one zod 4 schema: what a YAML file (or the flags, as a one-site
 * document) may hold, how each value is parsed into DaemonConfig, and, through
 * `z.toJSONSchema`, the JSON Schema editors validate against. Values are parsed by the pure
 * parsers of values.ts, so a file and a flag accept the same forms and fail the same way.
 */
import { z } from 'zod';
import { MAX_COMMAND_LINE_BYTES } from '../protocol/command.js';
import { DEFAULT_SITE_NAME, specOf } from './option-specs.js';
import { PRECONNECT_SITE_FIELDS, toSitePreconnect } from './site-fields-preconnect.js';
import { findSiteConflict } from './site-conflicts.js';
import {
  type ValueIssueParams,
  booleanOption,
  choiceOption,
  cidrList,
  describeOption,
  defaultOf,
  optionWithDefault,
  optionalOption,
  parseFilePath,
  parseListenEndpoint,
  parseUpstream,
  parsedScalar,
  requiredOption,
  scalar,
  valueIssue,
} from './schema-builders.js';
export type { ValueIssueParams } from './schema-builders.js';
import { CIDR_FORM } from '../protocol/cidr.js';
import { type IssueSink, toSiteTls } from './site-tls-options.js';
import { ROUTES_SITE_FIELDS } from './site-fields-routes.js';
import { PUBLIC_ADDRESS_SITE_FIELDS } from './site-fields-public-address.js';
import { toUpstreamTls, upstreamTlsFields } from './site-fields-upstream-tls.js';
import { PROXYPROTO_FILE_ONLY_KEYS, proxyProtocolSiteFields, toSiteProxyProtocol } from './site-fields-proxyproto.js';
import { scaleSiteFields, toScaleFields } from './site-fields-scale.js';
import { checkWorkers, workersProcessFields } from './process-fields-workers.js';
import {
  ACTIVE_MODES,
  type AdvertiseRule,
  CLIENT_TLS_MODES,
  DATA_TLS_REUSE_MODES,
  type DaemonConfig,
  EPSV_MODES,
  LOG_LEVELS,
  MODES,
  type SiteConfig,
} from './types.js';
import {
  ConfigError,
  type Endpoint,
  parseClientLimit,
  parseDuration,
  parseIpv4Address,
  parsePortRange,
  parsePositiveInteger,
} from './values.js';

/** Site names become the `site` label of every metric and log line of the site. */
export const SITE_NAME_PATTERN = /^[A-Za-z0-9_.-]+$/;
export const SITE_NAME_FORM = 'a name of letters, digits, "_", "." and "-"';

/**
 * A command line must hold at least `PORT h1,h2,h3,h4,p1,p2` or an EPRT with an IPv6 address.
 * The most is the command parser's own limit (MAX_COMMAND_LINE_BYTES, 4096: what ProFTPD and
 * vsftpd read in one piece): above it every longer line was refused as ambiguous all the same,
 * so a larger value only looked effective.
 */
export const MIN_COMMAND_BYTES = 128;
export const MAX_COMMAND_BYTES = MAX_COMMAND_LINE_BYTES;

function parseCommandBytes(field: string, text: string): number {
  const expected = `a whole number from ${MIN_COMMAND_BYTES} to ${MAX_COMMAND_BYTES}`;
  const value = /^\d{1,9}$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!(value >= MIN_COMMAND_BYTES && value <= MAX_COMMAND_BYTES)) throw new ConfigError(field, expected, text);
  return value;
}

function parseMetricsListen(field: string, text: string): Endpoint | undefined {
  return text === 'off' ? undefined : parseListenEndpoint(field, text);
}

/** Implicit FTPS listeners: one address or a list; none by default. */
const tlsListenOption = z
  .union([scalar, z.array(scalar)])
  .transform((value, context): Endpoint[] => {
    const items = Array.isArray(value) ? value : [value];
    const endpoints: Endpoint[] = [];
    items.forEach((item, index) => {
      try {
        endpoints.push(parseListenEndpoint('tlsListen', String(item)));
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        context.addIssue({ code: 'custom', message: error.message, params: valueIssue(error), path: Array.isArray(value) ? [index] : [], input: item });
      }
    });
    return endpoints;
  })
  .optional()
  .meta({ description: describeOption(specOf('tlsListen'), 'implicit FTPS listeners: one address, or a list ("0.0.0.0:990"); needs tlsCert') });

/** One address or a list of them; an empty list means the default, as an absent flag does. */
const listenOption = z
  .union([scalar, z.array(scalar)])
  .transform((value, context): Endpoint[] => {
    const items = Array.isArray(value) ? value : [value];
    if (items.length === 0) return [parseListenEndpoint('listen', defaultOf(specOf('listen')))];
    const endpoints: Endpoint[] = [];
    items.forEach((item, index) => {
      try {
        endpoints.push(parseListenEndpoint('listen', String(item)));
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        const path = Array.isArray(value) ? [index] : [];
        context.addIssue({ code: 'custom', message: error.message, params: valueIssue(error), path, input: item });
      }
    });
    return endpoints;
  })
  .prefault(defaultOf(specOf('listen')))
  .meta({
    description: describeOption(
      specOf('listen'),
      'addresses for client control connections: one, or a list (["0.0.0.0:21", "[::]:21"]); an empty list means the default',
    ),
  });

function cidrListOption(key: 'allowClients' | 'denyClients') {
  return cidrList()
    .optional()
    .meta({ description: describeOption(specOf(key), `${specOf(key).description}; one block or a list of them`) });
}

export const ADVERTISE_FORM = 'a list of { clients: [CIDR, ...], address: IPv4 }';
export const ADVERTISE_RULE_KEYS: readonly string[] = ['clients', 'address'];

const advertiseOption = z
  .array(
    z.strictObject({
      clients: cidrList().meta({ description: `the clients this rule is for: ${CIDR_FORM}, or a list of them` }),
      address: parsedScalar((text) => parseIpv4Address('address', text)).meta({ description: 'the IPv4 address their 227 names' }),
    }),
  )
  .prefault([])
  .meta({
    description:
      `split horizon, relay mode: ${ADVERTISE_FORM}; a client of the first rule that matches is told its address in 227 replies, ` +
      'everyone else publicAddress. Default: none. Config file only.',
  });

const passThroughOption = cidrList()
  .prefault([])
  .meta({
    description:
      `rewrite mode: clients from these blocks (${CIDR_FORM}, or a list) get the server's own 227 unchanged, ` +
      'for internal clients that reach the server directly. Default: none. Config file only.',
  });

/** The keys every site has, and that a file without `sites:` (or the flags) has at the top. */
const siteOptionFields = {
  listen: listenOption,
  upstream: requiredOption('upstream', parseUpstream),
  ...PUBLIC_ADDRESS_SITE_FIELDS,
  passivePorts: optionWithDefault('passivePorts', parsePortRange),
  mode: choiceOption('mode', MODES),
  epsv: choiceOption('epsv', EPSV_MODES),
  active: choiceOption('active', ACTIVE_MODES),
  passiveTimeout: optionWithDefault('passiveTimeout', parseDuration),
  upstreamConnectTimeout: optionWithDefault('upstreamConnectTimeout', parseDuration),
  maxSessions: optionWithDefault('maxSessions', (field, text) => parsePositiveInteger(field, text)),
  greetingTimeout: optionWithDefault('greetingTimeout', parseDuration),
  loginTimeout: optionWithDefault('loginTimeout', parseDuration),
  idleTimeout: optionWithDefault('idleTimeout', parseDuration),
  dataStallTimeout: optionWithDefault('dataStallTimeout', parseDuration),
  allowClients: cidrListOption('allowClients'),
  denyClients: cidrListOption('denyClients'),
  maxSessionsPerClient: optionWithDefault('maxSessionsPerClient', parseClientLimit),
  advertise: advertiseOption,
  passThroughClients: passThroughOption,
  replyTimeout: optionWithDefault('replyTimeout', parseDuration),
  maxCommandBytes: optionWithDefault('maxCommandBytes', parseCommandBytes),
  tlsCert: optionalOption('tlsCert', parseFilePath),
  tlsKey: optionalOption('tlsKey', parseFilePath),
  tlsListen: tlsListenOption,
  clientTls: choiceOption('clientTls', CLIENT_TLS_MODES),
  dataTlsReuse: choiceOption('dataTlsReuse', DATA_TLS_REUSE_MODES),
  allowClearData: booleanOption('allowClearData'),
  ...ROUTES_SITE_FIELDS,
  ...upstreamTlsFields,
  ...proxyProtocolSiteFields,
  ...scaleSiteFields,
  ...PRECONNECT_SITE_FIELDS,
};

/** Site keys a file may set that have no flag: a list of mappings, or a key that only makes sense beside others. */
export const FILE_ONLY_SITE_KEYS: readonly string[] = ['advertise', 'passThroughClients', 'routes', ...PROXYPROTO_FILE_ONLY_KEYS];

/** The keys of the whole process, at the top of every file. */
const processFields = {
  logLevel: choiceOption('logLevel', LOG_LEVELS),
  metricsListen: optionWithDefault('metricsListen', parseMetricsListen),
  drainTimeout: optionWithDefault('drainTimeout', parseDuration),
  ...workersProcessFields,
};

type SiteOptionValues = z.output<z.ZodObject<typeof siteOptionFields>>;

/**
 * `advertise` names ftpmasq's own passive address, so it means something only in relay mode;
 * `passThroughClients` keeps the server's 227, only in rewrite mode. Set in the other mode, each
 * would be ignored without a word: an error instead.
 */
function checkModeKeys(values: Pick<SiteOptionValues, 'mode' | 'advertise' | 'passThroughClients'>, context: z.RefinementCtx): void {
  const misplaced =
    values.mode === 'rewrite' && values.advertise.length > 0
      ? { key: 'advertise', detail: 'advertise applies in relay mode only; in rewrite mode, passThroughClients lets clients use the server\'s own 227' }
      : values.mode !== 'rewrite' && values.passThroughClients.length > 0
        ? { key: 'passThroughClients', detail: 'passThroughClients applies in rewrite mode only; in relay mode, advertise tells each network its address' }
        : undefined;
  if (misplaced === undefined) return;
  const params: ValueIssueParams = { expected: `no ${misplaced.key} in ${values.mode} mode`, received: misplaced.key, detail: misplaced.detail };
  context.addIssue({ code: 'custom', message: misplaced.detail, path: [misplaced.key], params });
}

function toSiteConfig(name: string, values: SiteOptionValues, context: IssueSink): SiteConfig {
  const tls = toSiteTls(values, context);
  const upstreamTls = toUpstreamTls(values, values.tlsCert !== undefined, context);
  if (upstreamTls !== undefined && upstreamTls !== 'invalid' && values.routes.length > 0) {
    // One TLS session towards one server per site (its certificate check names that server); routes dial others.
    const detail = 'routes and upstreamTls cannot be combined yet: TLS towards the server is checked against the site\'s own upstream';
    const params: ValueIssueParams = { expected: 'routes or upstreamTls, not both', received: 'both', detail };
    context.addIssue({ code: 'custom', message: detail, path: ['routes'], params, input: values.routes });
  }
  const { passivePorts, ...scale } = toScaleFields(values, context);
  const preconnect = toSitePreconnect(values, { routes: values.routes, upstreamProxyProtocol: values.upstreamProxyProtocol }, context);
  return {
    ...(tls === undefined || tls === 'invalid' ? {} : { tls }),
    ...(upstreamTls === undefined || upstreamTls === 'invalid' ? {} : { upstreamTls }),
    name,
    listen: values.listen,
    upstream: values.upstream,
    publicAddress: values.publicAddress,
    publicAddressRefreshMs: values.publicAddressRefresh,
    passivePorts,
    mode: values.mode,
    epsv: values.epsv,
    active: values.active,
    passiveTimeoutMs: values.passiveTimeout,
    upstreamConnectTimeoutMs: values.upstreamConnectTimeout,
    maxSessions: values.maxSessions,
    greetingTimeoutMs: values.greetingTimeout,
    loginTimeoutMs: values.loginTimeout,
    idleTimeoutMs: values.idleTimeout,
    dataStallTimeoutMs: values.dataStallTimeout,
    allowClients: values.allowClients ?? [],
    denyClients: values.denyClients ?? [],
    maxSessionsPerClient: values.maxSessionsPerClient,
    advertise: values.advertise.map((rule): AdvertiseRule => ({ clients: rule.clients, address: rule.address })),
    passThroughClients: values.passThroughClients,
    replyTimeoutMs: values.replyTimeout,
    maxCommandBytes: values.maxCommandBytes,
    routes: values.routes,
    ...toSiteProxyProtocol(values, context),
    ...scale,
    ...preconnect,
  };
}

export const siteSchema = z
  .strictObject({
    name: z
      .string()
      .regex(SITE_NAME_PATTERN)
      .meta({ description: `unique among the sites; the site label of its metrics and log lines (${SITE_NAME_FORM})` }),
    ...siteOptionFields,
  })
  .superRefine(checkModeKeys)
  .transform((site, context): SiteConfig => toSiteConfig(site.name, site, context))
  .meta({ title: 'site', description: 'one proxied FTP server: its listeners, its upstream, its passive range and policy' });

/** A file with `sites:`: process keys at the top, every per-site key inside its site. */
export const sitesDocumentSchema = z
  .strictObject({
    ...processFields,
    sites: z.array(siteSchema).min(1).meta({ description: 'the proxied servers, at least one; names, listeners and passive ranges may not overlap' }),
  })
  .transform((document, context): DaemonConfig => {
    const conflict = findSiteConflict(document.sites);
    if (conflict !== undefined) {
      const params: ValueIssueParams = { expected: conflict.expected, received: conflict.received, detail: conflict.detail };
      context.addIssue({ code: 'custom', message: conflict.detail, path: [...conflict.path], params });
      return z.NEVER;
    }
    const { workers } = document;
    if (workers !== 'auto' && !checkWorkers(workers, document.sites, context)) return z.NEVER;
    return {
      logLevel: document.logLevel,
      metricsListen: document.metricsListen,
      drainTimeoutMs: document.drainTimeout,
      // Absent for auto (resolveWorkers): the hash does not depend on the machine's cores.
      ...(workers === 'auto' ? {} : { workers }),
      sites: document.sites,
    };
  })
  .meta({ title: 'ftpmasq configuration with sites' });

/** A file without `sites:` (and the flags): one site named `default`, every key at the top. */
export const flatDocumentSchema = z
  .strictObject({ ...siteOptionFields, ...processFields })
  .superRefine(checkModeKeys)
  .transform(
    (document, context): DaemonConfig => {
      const site = toSiteConfig(DEFAULT_SITE_NAME, document, context);
      const { workers } = document;
      if (workers !== 'auto') checkWorkers(workers, [site], context);
      return {
        logLevel: document.logLevel,
        metricsListen: document.metricsListen,
        drainTimeoutMs: document.drainTimeout,
        ...(workers === 'auto' ? {} : { workers }),
        sites: [site],
      };
    },
  )
  .meta({ title: 'ftpmasq configuration for one site', description: `every key at the top; the site is named "${DEFAULT_SITE_NAME}"` });

/** The whole document, either form: the source of config/ftpmasq.schema.json. */
export const configDocumentSchema = z.union([sitesDocumentSchema, flatDocumentSchema]).meta({
  title: 'ftpmasq configuration',
  description:
    'ftpmasq --config FILE, checked by ftpmasq check-config FILE. Either process keys and sites:, or the keys of one site at the top.',
});

export const PROCESS_KEYS: readonly string[] = Object.keys(processFields);
export const SITE_OPTION_KEYS: readonly string[] = Object.keys(siteOptionFields);
export const SITE_KEYS: readonly string[] = ['name', ...SITE_OPTION_KEYS];
