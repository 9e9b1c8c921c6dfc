import { writeSync } from 'node:fs';
import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from '../config/types.js';

export type { Logger };

export interface LoggerOptions {
  /**
   * Human-readable lines instead of JSON. Defaults to true when no destination is given and stdout
   * is a terminal: a pipe, a file, journald or a container runtime always gets JSON.
   */
  readonly pretty?: boolean;
}

/**
 * One JSON object per line on stdout (or the given stream); every session logs through a child with
 * its id. docs/LOGGING.md describes the fields.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream, options: LoggerOptions = {}): Logger {
  const pinoOptions = {
    level,
    base: { service: 'ftpmasq' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // "level":"warn", not pino's "level":40: the name reads in journalctl and matches --log-level.
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const pretty = options.pretty ?? (destination === undefined && process.stdout.isTTY === true);
  if (pretty) {
    // Built in rather than pino-pretty: no optional dependency to go missing at run time.
    const target = destination ?? { write: (text: string) => void writeSync(1, text) };
    const color = destination === undefined && process.stdout.hasColors?.() === true;
    return pino(pinoOptions, { write: (line: string) => target.write(formatPrettyLine(line, { color })) });
  }
  // Synchronous writes to stdout: log lines are per session and per rewrite, never per data chunk,
  // and a line written just before exit must not be lost. pino's own default for stdout is an
  // asynchronous sonic-boom (one thread-pool write per line), hence the explicit destination.
  return pino(pinoOptions, destination ?? pino.destination({ dest: 1, sync: true }));
}

/** Terminal colours by level name; pino's numbers are read too, for lines from older versions. */
const LEVEL_COLORS: Readonly<Record<string, string>> = { trace: '90', debug: '36', info: '32', warn: '33', error: '31', fatal: '35' };
const LEVEL_NUMBERS: Readonly<Record<number, string>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
/** Fields that the pretty line shows in its fixed part, or not at all. */
const FIXED_FIELDS = new Set(['level', 'time', 'msg', 'service', 'session', 'pid', 'hostname']);

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? String(value);
}

/**
 * One pino JSON line as `12:34:56.789 INFO  [session 3] passive reply relayed from="227 ..." upstreamPort=60450`.
 * A line that is not a JSON object is returned unchanged.
 */
export function formatPrettyLine(line: string, options: { color: boolean } = { color: false }): string {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof record !== 'object' || record === null || Array.isArray(record)) return line;
  const fields = new Map(Object.entries(record));
  const level = fields.get('level');
  const levelName =
    typeof level === 'string' ? level : typeof level === 'number' ? (LEVEL_NUMBERS[level] ?? String(level)) : 'info';
  const paint = (code: string | undefined, text: string): string =>
    options.color && code !== undefined ? `\u001b[${code}m${text}\u001b[39m` : text;
  const time = fields.get('time');
  const clock = typeof time === 'string' ? /T(\d\d:\d\d:\d\d\.\d{3})/.exec(time)?.[1] : undefined;
  const session = fields.get('session');
  const parts = [
    clock ?? String(time ?? ''),
    paint(LEVEL_COLORS[levelName], levelName.toUpperCase().padEnd(5)),
  ];
  if (session !== undefined) parts.push(`[session ${formatValue(session)}]`);
  parts.push(String(fields.get('msg') ?? ''));
  for (const [key, value] of fields) {
    if (!FIXED_FIELDS.has(key)) parts.push(`${paint('90', `${key}=`)}${formatValue(value)}`);
  }
  return `${parts.join(' ')}\n`;
}
