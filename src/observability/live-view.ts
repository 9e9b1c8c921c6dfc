/**
 * The live view's document (`GET /sessions`): every live session of the daemon as JSON, sorted
 * and bounded, with peer bytes (user names, file names) rendered as safe text. The rate of a
 * transfer is measured here, from the byte counts each request reads, so the data path keeps no
 * clock of its own for it.
 */
import { performance } from 'node:perf_hooks';
import type { SessionState } from '../session/session-activity.js';
import type { SessionSnapshot } from '../session/session-registry.js';

/** At most this many sessions are listed; `omitted` counts the rest. Keeps one response small. */
export const MAX_LISTED_SESSIONS = 200;
/** A user name or a command argument is cut after this many characters (marked with `…`). */
export const MAX_TEXT_CHARS = 256;
/** The rate is the bytes moved over about this long, as seen by the requests in it. */
export const RATE_WINDOW_MS = 5000;
/** Samples kept per transfer, however often the view is asked for. */
const MAX_RATE_SAMPLES = 64;

export interface LiveTransfer {
  readonly verb: string;
  /** The command's argument as safe text (renderPeerText). */
  readonly argument: string;
}

export interface LiveData {
  /** Both directions together. */
  readonly bytes: number;
  readonly bytesToClient: number;
  readonly bytesToServer: number;
  /** Over the last RATE_WINDOW_MS or so (since the data connection opened, when younger). */
  readonly bytesPerSecond: number;
  readonly seconds: number;
}

export interface LiveSessionRow {
  readonly id: string;
  readonly site: string;
  /** `host:port`, an IPv6 host in brackets. */
  readonly client: string;
  /** The USER argument the server accepted, as safe text; null before the login. */
  readonly user: string | null;
  readonly state: SessionState;
  /** ISO 8601, UTC. */
  readonly startedAt: string;
  readonly seconds: number;
  /** The transfer command awaiting its final reply. */
  readonly transfer: LiveTransfer | null;
  /** The open data connection. */
  readonly data: LiveData | null;
}

export interface LiveSessionsDocument {
  readonly generatedAt: string;
  /** Live sessions in all; `sessions` lists the first `limit` of them in order, `omitted` the rest. */
  readonly total: number;
  readonly limit: number;
  readonly omitted: number;
  readonly sessions: readonly LiveSessionRow[];
  /** With workers: those that did not answer in time, named; their sessions are missing from `total`. */
  readonly unanswered?: readonly string[];
}

export interface LiveClock {
  /** ms since the epoch. */
  readonly wall: number;
  /** `performance.now()`: what relay start times are measured on. */
  readonly monotonic: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Peer bytes as text safe to show anywhere: decoded as UTF-8 (an invalid sequence becomes
 * U+FFFD), then every character that could hide, reorder or break what is around it written as
 * an escape: C0 and C1 controls and DEL as `\xHH`, bidirectional and line-separating format
 * characters as `\u{HHHH}`, and the backslash itself as `\\` so an escape cannot be forged.
 * Longer than `maxChars` characters: cut, ending in `…`.
 */
export function renderPeerText(bytes: Uint8Array, maxChars = MAX_TEXT_CHARS): string {
  let text = '';
  let count = 0;
  for (const char of utf8.decode(bytes)) {
    if (count === maxChars) return `${text}…`;
    text += escapeChar(char);
    count += 1;
  }
  return text;
}

function escapeChar(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  if (char === '\\') return '\\\\';
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (isFormatControl(code)) return `\\u{${code.toString(16).padStart(4, '0')}}`;
  return char;
}

/** Marks, embeddings, overrides and isolates (Unicode bidi), line and paragraph separators, BOM, zero widths. */
function isFormatControl(code: number): boolean {
  return (
    (code >= 0x200b && code <= 0x200f) ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2060 && code <= 0x2069) ||
    code === 0x061c ||
    code === 0xfeff
  );
}

/** `host:port`, an IPv6 host in brackets. */
export function formatClient(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Oldest first; sessions of one millisecond by id (base 36 counters: shorter is older). */
export function compareSessions(a: SessionSnapshot, b: SessionSnapshot): number {
  return a.startedAt - b.startedAt || a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** compareSessions for rendered rows: oldest first, ties by id. */
function compareRows(a: LiveSessionRow, b: LiveSessionRow): number {
  return Date.parse(a.startedAt) - Date.parse(b.startedAt) || a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The documents of the workers of `workers: N` as one: rows merged oldest first and cut at
 * `limit`, `total` the sum of theirs, `omitted` the rest. Each worker lists its own oldest
 * `limit`, so the first `limit` of the merge are the oldest of all.
 */
export function mergeLiveDocuments(documents: readonly LiveSessionsDocument[], unanswered: readonly string[], wall: number, limit = MAX_LISTED_SESSIONS): LiveSessionsDocument {
  const listed = documents.flatMap((document) => document.sessions).sort(compareRows).slice(0, limit);
  const total = documents.reduce((sum, document) => sum + document.total, 0);
  return { generatedAt: new Date(wall).toISOString(), total, limit, omitted: total - listed.length, sessions: listed, unanswered };
}

/**
 * The bytes of one data connection sampled at each request: the rate runs from the newest sample
 * at least a window old (or the connection's start) to now.
 */
export class RateWindow {
  private readonly samples: Array<{ readonly at: number; readonly bytes: number }>;

  constructor(
    readonly startedAtMs: number,
    private readonly windowMs = RATE_WINDOW_MS,
  ) {
    this.samples = [{ at: startedAtMs, bytes: 0 }];
  }

  /** Records `bytes` at `at` (ms, same clock as the start) and returns bytes per second. */
  record(at: number, bytes: number): number {
    const samples = this.samples;
    samples.push({ at, bytes });
    while (samples.length > 2 && (samples[1]?.at ?? at) <= at - this.windowMs) samples.shift();
    if (samples.length > MAX_RATE_SAMPLES) samples.splice(1, 1);
    const first = samples[0] ?? { at, bytes };
    const span = at - first.at;
    return span <= 0 ? 0 : Math.round(((bytes - first.bytes) * 1000) / span);
  }
}

/** What the view reads: the daemon's SessionRegistry. */
export interface SessionSource {
  snapshot(): SessionSnapshot[];
}

/**
 * Renders the registry into the document. It keeps one RateWindow per listed data connection
 * and forgets the others at each request, so it holds at most MAX_LISTED_SESSIONS of them.
 */
export class LiveView {
  private windows = new Map<string, RateWindow>();

  constructor(
    private readonly source: SessionSource,
    private readonly limit = MAX_LISTED_SESSIONS,
  ) {}

  render(clock: LiveClock = { wall: Date.now(), monotonic: performance.now() }): LiveSessionsDocument {
    const all = this.source.snapshot().sort(compareSessions);
    const listed = all.slice(0, this.limit);
    const windows = new Map<string, RateWindow>();
    const sessions = listed.map((session) => this.row(session, clock, windows));
    this.windows = windows;
    return {
      generatedAt: new Date(clock.wall).toISOString(),
      total: all.length,
      limit: this.limit,
      omitted: all.length - listed.length,
      sessions,
    };
  }

  private row(session: SessionSnapshot, clock: LiveClock, windows: Map<string, RateWindow>): LiveSessionRow {
    const command = session.transferCommand;
    return {
      id: session.id,
      site: session.site,
      client: formatClient(session.client.host, session.client.port),
      user: session.user === undefined ? null : renderPeerText(session.user),
      state: session.state,
      startedAt: new Date(session.startedAt).toISOString(),
      seconds: Math.max(0, Math.floor((clock.wall - session.startedAt) / 1000)),
      transfer: command === undefined ? null : { verb: command.verb, argument: renderPeerText(command.argument) },
      data: this.data(session, clock, windows),
    };
  }

  private data(session: SessionSnapshot, clock: LiveClock, windows: Map<string, RateWindow>): LiveData | null {
    const progress = session.progress;
    if (progress === undefined) return null;
    const known = this.windows.get(session.id);
    const window = known?.startedAtMs === progress.startedAtMs ? known : new RateWindow(progress.startedAtMs);
    windows.set(session.id, window);
    const bytes = progress.bytesToClient + progress.bytesToUpstream;
    return {
      bytes,
      bytesToClient: progress.bytesToClient,
      bytesToServer: progress.bytesToUpstream,
      bytesPerSecond: window.record(clock.monotonic, bytes),
      seconds: Math.max(0, Math.floor((clock.monotonic - progress.startedAtMs) / 1000)),
    };
  }
}

/**
 * The document as JSON that stays inert wherever it is pasted: `<`, `>` and `&` as `\u` escapes
 * (a `</script>` in a user name cannot end a script block); indented for reading with `curl`.
 */
export function formatLiveJson(document: LiveSessionsDocument): string {
  return `${JSON.stringify(document, null, 2)}\n`.replace(/[<>&]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
