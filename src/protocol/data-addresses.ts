/**
 * Parsing and formatting of the four ways FTP names a data endpoint:
 * `227` replies and `PORT` (RFC 959), `229` replies and `EPRT` (RFC 2428).
 * Pure functions of bytes; parse failures are values.
 */
import ipaddr from 'ipaddr.js';

export type ParseResult<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface HostPort {
  /** Dotted IPv4, or an IPv6 literal without brackets. */
  readonly host: string;
  readonly port: number;
}

/** The reply code and not a longer number ("2270" is not a 227). */
function startsWithCode(text: string, code: string): boolean {
  return text.startsWith(code) && !/^\d$/.test(text.charAt(code.length));
}

function fail<T>(reason: string): ParseResult<T> {
  return { ok: false, reason };
}

function octetsToHostPort(numbers: readonly number[]): ParseResult<HostPort> {
  if (numbers.length !== 6) return fail('expected six comma-separated numbers');
  for (const n of numbers) {
    if (!Number.isInteger(n) || n < 0 || n > 255) return fail('a number is outside 0-255');
  }
  const [a, b, c, d, p1, p2] = numbers as [number, number, number, number, number, number];
  const port = p1 * 256 + p2;
  if (port === 0) return fail('port 0');
  return { ok: true, value: { host: `${a}.${b}.${c}.${d}`, port } };
}

/**
 * The address and port in a `227` reply. Servers word it many ways ("(h1,h2,h3,h4,p1,p2)",
 * without parentheses, "=h1,...", OS/400 with spaces); clients such as curl and ftplib take the
 * first run of six comma-separated numbers anywhere in the text, and so do we.
 */
export function parse227(line: Buffer): ParseResult<HostPort> {
  const text = line.toString('latin1');
  if (!startsWithCode(text, '227')) return fail('not a 227 reply');
  // Whole numbers only: "4,2100" must fail the 0-255 check, not be read as "4,210".
  const match = /(?<!\d)(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)(?!\d)/.exec(text.slice(3));
  if (match === null) return fail('no h1,h2,h3,h4,p1,p2 tuple in the 227 reply');
  return octetsToHostPort(match.slice(1, 7).map(Number));
}

export function format227(host: string, port: number, lineEnd = '\r\n'): Buffer {
  if (!ipaddr.IPv4.isValidFourPartDecimal(host)) throw new RangeError(`227 needs an IPv4 address, got ${host}`);
  checkPort(port);
  const tuple = `${host.split('.').join(',')},${port >> 8},${port & 0xff}`;
  return Buffer.from(`227 Entering Passive Mode (${tuple}).${lineEnd}`, 'latin1');
}

/** RFC 2428 section 4: the delimiter is any printable ASCII character (33-126); `|` is usual. */
function isDelimiter(char: string): boolean {
  const code = char.charCodeAt(0);
  return code >= 33 && code <= 126 && !(code >= 0x30 && code <= 0x39);
}

export interface ExtendedPassive {
  readonly port: number;
  readonly delimiter: string;
}

/** The port in a `229 Entering Extended Passive Mode (|||port|)` reply. */
export function parse229(line: Buffer): ParseResult<ExtendedPassive> {
  const text = line.toString('latin1');
  if (!startsWithCode(text, '229')) return fail('not a 229 reply');
  const open = text.indexOf('(', 3);
  if (open === -1) return fail('no "(" in the 229 reply');
  const delimiter = text.charAt(open + 1);
  if (!isDelimiter(delimiter)) return fail('no valid delimiter after "("');
  if (text.charAt(open + 2) !== delimiter || text.charAt(open + 3) !== delimiter) {
    return fail('expected three delimiters before the port');
  }
  const close = text.indexOf(delimiter, open + 4);
  if (close === -1 || text.charAt(close + 1) !== ')') return fail('the port is not closed by delimiter and ")"');
  const digits = text.slice(open + 4, close);
  if (!/^\d{1,5}$/.test(digits)) return fail('the port is not a number');
  const port = Number(digits);
  if (port < 1 || port > 65535) return fail('port out of range');
  return { ok: true, value: { port, delimiter } };
}

export function format229(port: number, delimiter = '|', lineEnd = '\r\n'): Buffer {
  checkPort(port);
  const d = delimiter;
  return Buffer.from(`229 Entering Extended Passive Mode (${d}${d}${d}${port}${d})${lineEnd}`, 'latin1');
}

/** `PORT h1,h2,h3,h4,p1,p2` argument. */
export function parsePortArgument(argument: string): ParseResult<HostPort> {
  const parts = argument.trim().split(',');
  if (parts.length !== 6 || parts.some((p) => !/^\s*\d{1,3}\s*$/.test(p))) {
    return fail('expected h1,h2,h3,h4,p1,p2');
  }
  return octetsToHostPort(parts.map(Number));
}

export function formatPortArgument(host: string, port: number): string {
  if (!ipaddr.IPv4.isValidFourPartDecimal(host)) throw new RangeError(`PORT needs an IPv4 address, got ${host}`);
  checkPort(port);
  return `${host.split('.').join(',')},${port >> 8},${port & 0xff}`;
}

export interface ExtendedPort extends HostPort {
  /** RFC 2428 network protocol: 1 IPv4, 2 IPv6. */
  readonly family: 1 | 2;
}

/** `EPRT |1|132.235.1.2|6275|` or `EPRT |2|1080::8:800:200C:417A|5282|`, any delimiter. */
export function parseEprtArgument(argument: string): ParseResult<ExtendedPort> {
  const text = argument.trim();
  const delimiter = text.charAt(0);
  if (!isDelimiter(delimiter)) return fail('no valid delimiter');
  const fields = text.split(delimiter);
  // "|1|addr|port|" splits into ["", "1", "addr", "port", ""].
  if (fields.length !== 5 || fields[0] !== '' || fields[4] !== '') {
    return fail('expected <d>family<d>address<d>port<d>');
  }
  const [, familyText = '', host = '', portText = ''] = fields;
  if (familyText !== '1' && familyText !== '2') return fail('family must be 1 (IPv4) or 2 (IPv6)');
  const family = familyText === '1' ? 1 : 2;
  if (family === 1 && !ipaddr.IPv4.isValidFourPartDecimal(host)) return fail('not a dotted IPv4 address');
  if (family === 2 && !ipaddr.IPv6.isValid(host)) return fail('not an IPv6 address');
  if (!/^\d{1,5}$/.test(portText)) return fail('the port is not a number');
  const port = Number(portText);
  if (port < 1 || port > 65535) return fail('port out of range');
  return { ok: true, value: { family, host, port } };
}

export function formatEprtArgument(host: string, port: number): string {
  checkPort(port);
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return `|1|${host}|${port}|`;
  if (ipaddr.IPv6.isValid(host) && !host.includes('%')) return `|2|${host}|${port}|`;
  throw new RangeError(`EPRT needs an IPv4 or IPv6 address, got ${host}`);
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`not a TCP port: ${port}`);
}
