/**
 * ProFTPD configurations of the benchmark: the legacy server (no MasqueradeAddress) behind
 * ftpmasq and mod_proxy, the fixed server (MasqueradeAddress) behind the plain NAT, and the
 * mod_proxy reverse proxy. Adapted from test/fixtures/proftpd/proftpd.conf.template with what a
 * benchmark needs on top: more instances, long idle timeouts, no transfer log.
 */

export interface ServerConfigOptions {
  readonly runDir: string;
  readonly port: number;
  readonly passivePorts: { readonly low: number; readonly high: number };
  readonly masqueradeAddress?: string;
  readonly maxInstances: number;
}

const COMMON = (runDir: string, maxInstances: number): string => `
ServerType            standalone
DefaultServer         on
UseIPv6               off
User                  nobody
Group                 nogroup
Umask                 022
MaxInstances          ${maxInstances}
UseReverseDNS         off
<IfModule mod_ident.c>
  IdentLookups        off
</IfModule>
DelayEngine           off
ScoreboardFile        ${runDir}/proftpd.scoreboard
PidFile               ${runDir}/proftpd.pid
SystemLog             ${runDir}/proftpd.log
TransferLog           none
WtmpLog               off
<IfModule mod_ctrls.c>
  ControlsEngine      off
  ControlsSocket      ${runDir}/proftpd.sock
</IfModule>
<IfModule mod_auth_pam.c>
  AuthPAM             off
</IfModule>
# Held sessions sit idle while the benchmark measures memory.
TimeoutIdle           600
TimeoutNoTransfer     600
TimeoutLogin          600
`;

/** The FTP server in the server namespace: the legacy one, or with MasqueradeAddress the fixed one. */
export function serverConfig(options: ServerConfigOptions): string {
  const masquerade = options.masqueradeAddress === undefined ? '' : `MasqueradeAddress     ${options.masqueradeAddress}`;
  return `# ftpmasq benchmark: FTP server${options.masqueradeAddress === undefined ? ' (legacy, no MasqueradeAddress)' : ' (fixed, MasqueradeAddress)'}
ServerName            "ftpmasq bench server"
Port                  ${options.port}
PassivePorts          ${options.passivePorts.low} ${options.passivePorts.high}
${masquerade}
${COMMON(options.runDir, options.maxInstances)}
AuthOrder             mod_auth_file.c
AuthUserFile          ${options.runDir}/ftpd.passwd
AuthGroupFile         ${options.runDir}/ftpd.group
RequireValidShell     off
UseFtpUsers           off
DefaultRoot           ~
AllowOverwrite        on
`;
}

export interface ProxyConfigOptions {
  readonly runDir: string;
  readonly port: number;
  readonly passivePorts: { readonly low: number; readonly high: number };
  readonly backend: string;
  readonly maxInstances: number;
  /** mod_tls terminates explicit FTPS towards clients (required on control and data); the backend stays plain. */
  readonly tls?: { readonly certPath: string; readonly keyPath: string };
}

/** mod_tls towards clients: TLS 1.2 and 1.3, required, session reuse on data (its default, which curl does). */
function frontendTls(runDir: string, tls: { readonly certPath: string; readonly keyPath: string }): string {
  return `<IfModule mod_tls.c>
  TLSEngine                 on
  TLSLog                    ${runDir}/tls.log
  TLSProtocol               TLSv1.2 TLSv1.3
  TLSRequired               on
  TLSRSACertificateFile     ${tls.certPath}
  TLSRSACertificateKeyFile  ${tls.keyPath}
  TLSVerifyClient           off
</IfModule>
`;
}

/** ProFTPD mod_proxy (Debian proftpd-mod-proxy) as a reverse proxy in the gateway namespace. */
export function reverseProxyConfig(options: ProxyConfigOptions): string {
  return `# ftpmasq benchmark: ProFTPD mod_proxy, reverse role
ServerName            "ftpmasq bench mod_proxy"
Port                  ${options.port}
PassivePorts          ${options.passivePorts.low} ${options.passivePorts.high}
${COMMON(options.runDir, options.maxInstances)}
ModulePath            /usr/lib/proftpd
# mod_proxy.so uses OpenSSL symbols that Debian links into mod_tls.so (proftpd-mod-crypto): load it first.
LoadModule            mod_tls.c
LoadModule            mod_proxy.c
<IfModule mod_proxy.c>
  ProxyEngine               on
  # No ProxyLog (mod_proxy's default): ftpmasq logs its per-session lines, mod_proxy none.
  ProxyTables               ${options.runDir}/proxy-tables
  ProxyRole                 reverse
  # One backend: Random selects it without the SQLite state that RoundRobin locks and updates
  # per connection ("database is locked", then "error selecting backend server" under load).
  ProxyReverseConnectPolicy Random
  ProxyReverseServers       ${options.backend}
  ProxyDataTransferPolicy   client
  ProxyTimeoutConnect       5sec
${options.tls === undefined ? '' : '  # The backend is the plain legacy server: no AUTH TLS towards it.\n  ProxyTLSEngine            off\n'}</IfModule>
${options.tls === undefined ? '' : frontendTls(options.runDir, options.tls)}`;
}
