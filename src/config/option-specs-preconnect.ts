/** The options of upstream preconnection (docs/DESIGN.md, "Preconnected upstream connections"). */
import type { OptionSpec } from './option-specs.js';
import { formatDuration } from './values.js';

/** Well below the login timeouts of common servers (ProFTPD 300 s, vsftpd 300 s, IIS 120 s). */
export const DEFAULT_PRECONNECT_MAX_AGE_MS = 15_000;

export const PRECONNECT_OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'upstreamPreconnect',
    flag: '--upstream-preconnect',
    valueName: 'N',
    description:
      'upstream control connections dialled and greeted before clients need them, topped up as sessions start (0: none, at most 64); a new session takes one instead of waiting for the server to accept it. Not with routes or upstreamProxyProtocol',
    defaultValue: '0',
    scope: 'site',
  },
  {
    key: 'upstreamPreconnectMaxAge',
    flag: '--upstream-preconnect-max-age',
    valueName: 'DURATION',
    description:
      "how long a preconnected upstream connection waits for a client; then ftpmasq sends QUIT and closes it, and makes no new one until the next session starts. Keep it below the server's login timeout",
    defaultValue: formatDuration(DEFAULT_PRECONNECT_MAX_AGE_MS),
    scope: 'site',
  },
];
