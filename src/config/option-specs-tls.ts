/** The options of FTPS towards clients (RFC 4217): certificate, implicit listeners, what TLS is required for. */
import type { OptionSpec } from './option-specs.js';
import { CLIENT_TLS_MODES, DATA_TLS_REUSE_MODES } from './types.js';

export const TLS_OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'tlsCert',
    flag: '--tls-cert',
    valueName: 'FILE',
    description: 'PEM certificate (chain) for FTPS towards clients (AUTH TLS); re-read on SIGHUP; needs --tls-key',
    defaultValue: undefined,
    scope: 'site',
  },
  {
    key: 'tlsListen',
    flag: '--tls-listen',
    valueName: 'HOST:PORT',
    description: 'implicit FTPS listener (TLS from the first byte, usually port 990); repeat for several; needs --tls-cert',
    defaultValue: undefined,
    scope: 'site',
    repeatable: true,
  },
  {
    key: 'tlsKey',
    flag: '--tls-key',
    valueName: 'FILE',
    description: 'PEM private key of --tls-cert',
    defaultValue: undefined,
    scope: 'site',
  },
  {
    key: 'clientTls',
    flag: '--client-tls',
    valueName: CLIENT_TLS_MODES.join('|'),
    description: 'with a certificate: required answers a plain USER/PASS with 530 and never sends it upstream',
    defaultValue: 'optional',
    scope: 'site',
  },
  {
    key: 'dataTlsReuse',
    flag: '--data-tls-reuse',
    valueName: DATA_TLS_REUSE_MODES.join('|'),
    description: "required: a PROT P data connection must resume its control connection's TLS session, or it gets 522",
    defaultValue: 'required',
    scope: 'site',
  },
  {
    key: 'allowClearData',
    flag: '--allow-clear-data',
    valueName: 'true|false',
    description: 'false: PROT C (unencrypted data connections) is refused once the control connection is TLS',
    defaultValue: 'true',
    scope: 'site',
  },
];
