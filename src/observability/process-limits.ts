import { readFileSync } from 'node:fs';

export interface OpenFilesLimit {
  readonly soft: number;
  readonly hard: number;
}

/** The "Max open files" row of /proc/self/limits; "unlimited" reads as Infinity. */
export function parseOpenFilesLimit(limitsText: string): OpenFilesLimit | undefined {
  const match = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limitsText);
  if (match === null) return undefined;
  const read = (value: string | undefined): number => (value === 'unlimited' ? Infinity : Number(value));
  return { soft: read(match[1]), hard: read(match[2]) };
}

/**
 * Node raises the soft limit to the hard one at start; this reads what it got, so the ready log
 * line can say whether the configured sessions fit. Undefined where /proc is not mounted.
 */
export function readOpenFilesLimit(): OpenFilesLimit | undefined {
  try {
    return parseOpenFilesLimit(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * File descriptors a full proxy may hold: two control sockets per session, plus one listener
 * per passive port and two sockets for each relayed data connection (at most one per port).
 */
export function descriptorsNeeded(maxSessions: number, passivePorts: number): number {
  return 2 * maxSessions + 3 * passivePorts + 64;
}
