/**
 * The PROXY protocol options (issue 15 items 4 and 5): headers ftpmasq reads from a load balancer
 * in front of it, and headers it sends to the upstream. `proxyProtocol` itself, a mapping with the
 * trusted sources, is a config file key (site-fields-proxyproto.ts).
 */
import type { OptionSpec } from './option-specs.js';
import { UPSTREAM_PROXY_PROTOCOLS } from './types.js';

export const PROXYPROTO_OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'proxyProtocolData',
    flag: '--proxy-protocol-data',
    valueName: 'true|false',
    description: "with proxyProtocol: passive data connections from its trusted sources carry a PROXY header too, so the data-peer check compares the client's real address",
    defaultValue: 'false',
    scope: 'site',
  },
  {
    key: 'upstreamProxyProtocol',
    flag: '--upstream-proxy-protocol',
    valueName: UPSTREAM_PROXY_PROTOCOLS.join('|'),
    description: "send a PROXY header (version 1 or 2) with the client's real address first on the control connection to the upstream",
    defaultValue: 'off',
    scope: 'site',
  },
  {
    key: 'upstreamProxyProtocolData',
    flag: '--upstream-proxy-protocol-data',
    valueName: 'true|false',
    description: 'with upstreamProxyProtocol: send the header on data connections to the upstream too',
    defaultValue: 'false',
    scope: 'site',
  },
];
