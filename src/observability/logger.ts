import { pino, type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from '../config/schema.js';

export type { Logger };

/** One JSON object per line on stdout (or the given stream); every session logs through a child with its id. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  const options = { level, base: { service: 'ftpmasq' }, timestamp: pino.stdTimeFunctions.isoTime };
  // Synchronous writes to stdout: log lines are per session and per rewrite, never per data chunk,
  // and a line written just before exit must not be lost.
  return destination === undefined ? pino(options) : pino(options, destination);
}
