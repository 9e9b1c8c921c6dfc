/**
 * The one argument of `ftpmasq probe`: `ftp://user:pass@host[:port]`. Pure; a bad URL is a
 * value naming what is wrong, and the text shown back never contains the password.
 */
import type { ParseResult } from '../protocol/data-addresses.js';

export const PROBE_URL_FORM = 'ftp://user:pass@host[:port]';

export interface ProbeTarget {
  /** A host name, an IPv4 address, or an IPv6 address without brackets. */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
}

/** The URL with any password replaced by `***`, for messages and reports. */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^/]*@/i, '$1***@');
}

export function parseProbeUrl(text: string): ParseResult<ProbeTarget> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: 'not a URL' };
  }
  if (url.protocol !== 'ftp:') return { ok: false, reason: `the scheme must be ftp:, not ${url.protocol}` };
  if (url.hostname === '') return { ok: false, reason: 'no host' };
  if (url.pathname !== '' && url.pathname !== '/') return { ok: false, reason: 'no path is allowed after the host' };
  if (url.search !== '' || url.hash !== '') return { ok: false, reason: 'no query or fragment is allowed' };
  let user: string;
  let password: string;
  try {
    user = decodeURIComponent(url.username);
    password = decodeURIComponent(url.password);
  } catch {
    return { ok: false, reason: 'the user or password has a bad %-escape' };
  }
  if (/[\r\n]/.test(user) || /[\r\n]/.test(password)) {
    return { ok: false, reason: 'the user or password contains a line break' };
  }
  if (user === '') {
    // RFC 1738 section 3.2.1: no user name means anonymous FTP.
    user = 'anonymous';
    if (password === '') password = 'ftpmasq-probe@';
  }
  // WHATWG URL drops the default port 21 and keeps IPv6 hosts in brackets.
  const port = url.port === '' ? 21 : Number(url.port);
  if (port === 0) return { ok: false, reason: 'port 0' };
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { ok: true, value: { host, port, user, password } };
}
