/**
 * Session ids: a base 36 counter, so an id is short in logs and the shorter of two is the older.
 * A worker of `workers: N` prefixes its index (`1-2s`), so ids stay unique across the workers
 * whose sessions the primary's live view lists together, and a log line's id is the view's.
 */
let prefix = '';
let counter = 0;

/** Set once, before the first session (a worker at start). */
export function setSessionIdPrefix(value: string): void {
  prefix = value;
}

export function nextSessionId(): string {
  counter += 1;
  return `${prefix}${counter.toString(36)}`;
}
