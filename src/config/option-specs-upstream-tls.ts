/** The options of TLS towards the upstream server (RFC 4217 with ftpmasq as the FTPS client). */
import type { OptionSpec } from './option-specs.js';
import { UPSTREAM_TLS_MODES } from './types.js';

export const UPSTREAM_TLS_OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'upstreamTls',
    flag: '--upstream-tls',
    valueName: UPSTREAM_TLS_MODES.join('|'),
    description: 'TLS towards the server: explicit sends AUTH TLS, PBSZ 0 and PROT P before the client logs in; implicit is TLS from the first byte',
    defaultValue: 'off',
    scope: 'site',
  },
  {
    key: 'upstreamTlsCa',
    flag: '--upstream-tls-ca',
    valueName: 'FILE',
    description: "PEM CA certificate(s) the server's certificate must chain to (default: the system CAs); the server name or IP must match it",
    defaultValue: undefined,
    scope: 'site',
  },
  {
    key: 'upstreamTlsFingerprint',
    flag: '--upstream-tls-fingerprint',
    valueName: 'SHA256',
    description: "SHA-256 of the server's certificate (hex, colons optional): pins that certificate instead of checking a CA",
    defaultValue: undefined,
    scope: 'site',
  },
  {
    key: 'allowPlainClients',
    flag: '--allow-plain-clients',
    valueName: 'true|false',
    description: 'with --upstream-tls: true lets a client whose control connection is plain log in to the TLS server; false answers its USER/PASS 530',
    defaultValue: 'false',
    scope: 'site',
  },
];
