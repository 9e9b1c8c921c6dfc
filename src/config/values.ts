/**
 * Pure parsers for option values. Each failure is a ConfigError naming the field, the expected
 * form and the value received, so the CLI can print one line and exit 2.
 */
import { ipFamily, isValidIp } from '../protocol/address-policy.js';

export class ConfigError extends Error {
  /**
   * `field` names the flag (`--max-sessions`) or the file and key path
   * (`/etc/ftpmasq.yaml: sites[1].passivePorts`). The message is one line:
   * `field: expected EXPECTED, got "RECEIVED"`, or `field: DETAIL` where the problem is not one
   * value of the wrong form (an unknown key, two sites on one port, a value that is not text).
   */
  constructor(
    readonly field: string,
    readonly expected: string,
    readonly received: string,
    detail?: string,
  ) {
    super(`${field}: ${detail ?? `expected ${expected}, got ${JSON.stringify(received)}`}`);
    this.name = 'ConfigError';
  }
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface PortRange {
  readonly low: number;
  readonly high: number;
}

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** RFC 1123 section 2.1: a name whose last label is all digits would be read as an address. */
export function isHostName(text: string): boolean {
  return HOSTNAME.test(text) && !/^\d+$/.test(text.split('.').at(-1) ?? '');
}

function parsePortNumber(text: string, allowZero: boolean): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  if (port > 65535 || (port === 0 && !allowZero)) return undefined;
  return port;
}

/**
 * `HOST:PORT`, `[IPv6]:PORT`. Listen addresses must be IP literals; an upstream may be a host
 * name. Port 0 (any free port) is accepted only where `allowPortZero` says so.
 */
export function parseEndpoint(
  field: string,
  value: string,
  options: { allowHostname: boolean; allowPortZero: boolean },
): Endpoint {
  const expected = options.allowHostname ? 'HOST:PORT or [IPv6]:PORT' : 'IP:PORT or [IPv6]:PORT';
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(value);
  let host: string;
  let portText: string;
  if (bracketed !== null) {
    host = bracketed[1] ?? '';
    portText = bracketed[2] ?? '';
  } else {
    const colon = value.lastIndexOf(':');
    if (colon <= 0 || value.indexOf(':') !== colon) throw new ConfigError(field, expected, value);
    host = value.slice(0, colon);
    portText = value.slice(colon + 1);
  }
  const port = parsePortNumber(portText, options.allowPortZero);
  if (port === undefined) {
    throw new ConfigError(field, `${expected} with a port from ${options.allowPortZero ? 0 : 1} to 65535`, value);
  }
  if (bracketed !== null && !isValidIp(host)) throw new ConfigError(field, expected, value);
  if (!isValidIp(host) && !(options.allowHostname && isHostName(host))) {
    throw new ConfigError(field, expected, value);
  }
  return { host, port };
}

/** `LOW-HIGH`, both from 1024 to 65535, LOW <= HIGH. */
export function parsePortRange(field: string, value: string): PortRange {
  const expected = 'LOW-HIGH with 1024 <= LOW <= HIGH <= 65535';
  const match = /^(\d{1,5})-(\d{1,5})$/.exec(value.trim());
  if (match === null) throw new ConfigError(field, expected, value);
  const low = Number(match[1]);
  const high = Number(match[2]);
  if (low < 1024 || high > 65535 || low > high) throw new ConfigError(field, expected, value);
  return { low, high };
}

export function parseIpAddress(field: string, value: string): string {
  if (!isValidIp(value)) throw new ConfigError(field, 'an IPv4 or IPv6 address', value);
  return value;
}

export function parseChoice<T extends string>(field: string, value: string, choices: readonly T[]): T {
  const found = choices.find((choice) => choice === value);
  if (found === undefined) throw new ConfigError(field, `one of ${choices.join('|')}`, value);
  return found;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

const MS_PER_UNIT = { ms: 1n, s: 1000n, m: 60_000n, h: 3_600_000n } as const;
/** How errors and the JSON Schema describe a duration. */
export const DURATION_FORM = 'a duration such as 30s, 1.5s, 500ms or 5m';

/**
 * A number of milliseconds (`500ms`), seconds (`30s`, `1.5s`, or bare `30`), minutes (`5m`,
 * `0.5m`) or hours (`1h`), returned in milliseconds. A fraction must come to whole milliseconds
 * (`1.5ms` does not); the arithmetic is exact (`0.001s` is 1 ms, never 0.999...).
 */
export function parseDuration(field: string, value: string): number {
  const match = /^(\d{1,9})(?:\.(\d{1,6}))?(ms|s|m|h)?$/.exec(value.trim());
  if (match === null) throw new ConfigError(field, DURATION_FORM, value);
  const [, whole = '', fraction = '', unitText] = match;
  const unit = unitText === 'ms' || unitText === 'm' || unitText === 'h' ? unitText : 's';
  const scale = 10n ** BigInt(fraction.length);
  const scaledMs = (BigInt(whole) * scale + BigInt(fraction === '' ? '0' : fraction)) * MS_PER_UNIT[unit];
  if (scaledMs % scale !== 0n) throw new ConfigError(field, 'a duration of whole milliseconds', value);
  const ms = scaledMs / scale;
  if (ms <= 0n) throw new ConfigError(field, 'a duration above zero', value);
  // Node's timers turn anything longer into 1 ms.
  if (ms > BigInt(MAX_TIMER_MS)) throw new ConfigError(field, `a duration of at most ${MAX_TIMER_MS}ms`, value);
  return Number(ms);
}

export function parsePositiveInteger(field: string, value: string, max = 1_000_000): number {
  if (!/^\d{1,9}$/.test(value.trim()) || Number(value) < 1 || Number(value) > max) {
    throw new ConfigError(field, `a whole number from 1 to ${max}`, value);
  }
  return Number(value);
}

/** The text form of a duration that parseDuration reads back to the same milliseconds. */
export function formatDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** `HOST:PORT`, IPv6 in brackets: the form parseEndpoint reads. */
export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.host.includes(':') ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

export function formatPortRange(range: PortRange): string {
  return `${range.low}-${range.high}`;
}

/** `unlimited`, or a whole number from 1. */
export function parseClientLimit(field: string, value: string): number | undefined {
  return value === 'unlimited' ? undefined : parsePositiveInteger(field, value);
}

/** An address a 227 can name: IPv4 only, by the protocol. */
export function parseIpv4Address(field: string, value: string): string {
  if (!isValidIp(value) || ipFamily(value) !== 4) throw new ConfigError(field, 'an IPv4 address', value);
  return value;
}
