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

/** Descriptors that are not sessions': listeners, the metrics server, stdio, Node's own. */
export const RESERVED_DESCRIPTORS = 64;

/**
 * Descriptors a proxy at its session limit may hold: two control sockets per session, and every
 * passive port carrying a transfer (two data sockets; a port waiting for its client holds one
 * listener, closed when the client connects), plus {@link RESERVED_DESCRIPTORS}. Active-mode
 * transfers also take two each; they are not counted, as every session transferring at once is
 * not the load the limit is sized for (docs/OPERATIONS.md).
 */
export function descriptorsNeeded(maxSessions: number, passivePorts: number): number {
  return 2 * maxSessions + 2 * passivePorts + RESERVED_DESCRIPTORS;
}

/** What the start-up check found: how many sessions the limit holds beside the passive ranges. */
export interface OpenFilesShortfall {
  readonly openFilesLimit: number;
  readonly needed: number;
  readonly maxSessions: number;
  readonly sessionsWithinLimit: number;
}

/**
 * Undefined when `limit` holds `maxSessions` sessions and every passive port busy; otherwise how
 * many sessions it does hold. `maxSessions` and `passivePorts` are sums over the sites.
 */
export function findOpenFilesShortfall(limit: number, maxSessions: number, passivePorts: number): OpenFilesShortfall | undefined {
  const needed = descriptorsNeeded(maxSessions, passivePorts);
  if (limit >= needed) return undefined;
  const sessionsWithinLimit = Math.max(0, Math.floor((limit - descriptorsNeeded(0, passivePorts)) / 2));
  return { openFilesLimit: limit, needed, maxSessions, sessionsWithinLimit };
}
