/**
 * The zod fields of the PROXY protocol keys of a site, and their conversion into SiteConfig.
 * `proxyProtocol: { trusted: [CIDR...], timeout: 5s }` is a config file key: the sources it
 * names must send a header before any FTP byte (docs/SECURITY.md, "PROXY protocol").
 */
import { z } from 'zod';
import { CIDR_FORM } from '../protocol/cidr.js';
import { booleanOption, choiceOption, cidrList, parsedScalar } from './schema-builders.js';
import type { IssueSink } from './site-tls-options.js';
import { type ProxyProtocolConfig, type SiteConfig, UPSTREAM_PROXY_PROTOCOLS } from './types.js';
import { parseDuration } from './values.js';

/** How long a trusted source has to send its header, unless `proxyProtocol.timeout` says otherwise. */
export const DEFAULT_PROXY_HEADER_TIMEOUT = '5s';

export const PROXY_PROTOCOL_FORM = `{ trusted: [CIDR, ...], timeout: DURATION }`;

const proxyProtocolOption = z
  .strictObject({
    trusted: cidrList().meta({ description: `the load balancers: ${CIDR_FORM}, or a list of them; connections from them must start with a PROXY header` }),
    timeout: parsedScalar((text) => parseDuration('proxyProtocol.timeout', text))
      .prefault(DEFAULT_PROXY_HEADER_TIMEOUT)
      .meta({ description: `how long a trusted source has to send its header, then the connection is closed. Default: ${DEFAULT_PROXY_HEADER_TIMEOUT}` }),
  })
  .optional()
  .meta({
    description:
      `PROXY protocol v1/v2 from load balancers in front: ${PROXY_PROTOCOL_FORM}. The header's client address replaces the ` +
      'connection\'s everywhere (access lists, limits, advertise, data-peer check, logs); a trusted source without a header, or ' +
      'anyone else sending one, is closed. Default: none (no header read). Config file only.',
  });

export const proxyProtocolSiteFields = {
  proxyProtocol: proxyProtocolOption,
  proxyProtocolData: booleanOption('proxyProtocolData'),
  upstreamProxyProtocol: choiceOption('upstreamProxyProtocol', UPSTREAM_PROXY_PROTOCOLS),
  upstreamProxyProtocolData: booleanOption('upstreamProxyProtocolData'),
};

export const PROXYPROTO_FILE_ONLY_KEYS: readonly string[] = ['proxyProtocol'];

type ProxyProtocolValues = z.output<z.ZodObject<typeof proxyProtocolSiteFields>>;

export type SiteProxyProtocol = Pick<SiteConfig, 'proxyProtocol' | 'proxyProtocolData' | 'upstreamProxyProtocol' | 'upstreamProxyProtocolData'>;

/** The keys' values in SiteConfig; a `...Data` key without the key it extends is an issue, not silently ignored. */
export function toSiteProxyProtocol(values: ProxyProtocolValues, context: IssueSink): SiteProxyProtocol {
  const issue = (path: string, expected: string, message: string): void => {
    context.addIssue({ code: 'custom', message, path: [path], params: { expected, received: 'true' }, input: 'true' });
  };
  if (values.proxyProtocolData && values.proxyProtocol === undefined) {
    issue('proxyProtocolData', 'proxyProtocol with its trusted sources', 'proxyProtocolData needs proxyProtocol (the sources whose data connections carry a header)');
  }
  if (values.upstreamProxyProtocolData && values.upstreamProxyProtocol === 'off') {
    issue('upstreamProxyProtocolData', 'upstreamProxyProtocol v1 or v2', 'upstreamProxyProtocolData needs upstreamProxyProtocol v1 or v2');
  }
  const proxyProtocol: ProxyProtocolConfig | undefined =
    values.proxyProtocol === undefined ? undefined : { trusted: values.proxyProtocol.trusted, timeoutMs: values.proxyProtocol.timeout };
  return {
    proxyProtocol,
    proxyProtocolData: values.proxyProtocolData,
    upstreamProxyProtocol: values.upstreamProxyProtocol,
    upstreamProxyProtocolData: values.upstreamProxyProtocolData,
  };
}
