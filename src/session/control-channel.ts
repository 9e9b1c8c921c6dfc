import type { Duplex } from 'node:stream';
import { LineReader, type LineReaderOptions } from '../protocol/line-reader.js';

const LINE_FEED = Buffer.from('\n');

export interface ChannelFraming extends LineReaderOptions {
  /**
   * An unfinished line this returns true for is handed on at once, its LF added (an ABOR whose LF
   * was taken as urgent data, which never comes); a lone LF right after it is dropped.
   */
  readonly completesTail?: (tail: Buffer) => boolean;
  /**
   * A line this returns true for (ABOR, in any form) is handed on at once even while reading is
   * paused for a scanned reason (SCANNED_PAUSES): the channel goes on reading, up to
   * READ_AHEAD_BYTES, to find it. Without it, no ABOR was read from a client that did not read
   * its replies, and the server went on with the transfer.
   */
  readonly urgentLine?: (line: Buffer) => boolean;
}

/**
 * Why a side is paused; it reads again when no reason is left. `processing`: a line is being
 * handled and later lines wait. `replies-unread`: the client is not reading its replies, so
 * ftpmasq stops reading its commands too. `pipeline`: too many commands await replies.
 * `closing`: the session ends after a last reply and reads no more commands.
 */
export type PauseReason = 'backpressure' | 'processing' | 'connecting' | 'replies-unread' | 'pipeline' | 'closing';

/** What a channel tells its session. `line`, `tooLong` and `end` come in the order read. */
export interface ControlChannelHandlers {
  /** One complete line, the exact bytes read, terminator included. */
  line(line: Buffer): void;
  /**
   * A line longer than the cap. With `overlong: 'fail'` nothing more is read after it; with
   * `skip` its bytes are dropped and the lines after it come as usual.
   */
  tooLong(): void;
  /** The peer's EOF (or the stream's close), after every line before it; once. */
  end(unterminated: Buffer | undefined): void;
  /** The stream closed. At once, not in line order. */
  close(): void;
  error(error: Error): void;
  /** The stream took every byte written to it. */
  drain(): void;
}

type Inbound = Buffer | 'too-long' | { readonly end: Buffer | undefined };

/**
 * Pauses that also stop handing on lines already read: the session wants no more commands now,
 * not only no more bytes. Without this, one read of 64 KiB of `NOOP\r\n` queued about 11,000
 * commands past the bound of 256 (test/integration/rules-security.test.ts, "the pipeline bound").
 */
const WITHHOLDS_LINES: ReadonlySet<PauseReason> = new Set<PauseReason>(['pipeline']);

/**
 * Pauses during which a channel with `urgentLine` still reads, to find an ABOR: the client does
 * not read its replies, or has too many commands in flight. What it reads meanwhile waits (the
 * read-ahead), bounded; the ABOR alone goes on at once, ahead of the commands read before it and
 * not yet handed on: RFC 959 (4.1.3) has the server discard what precedes the Synch of an abort.
 */
const SCANNED_PAUSES: ReadonlySet<PauseReason> = new Set<PauseReason>(['replies-unread', 'pipeline']);

/** The most a paused channel reads ahead looking for an ABOR; then it really stops reading. */
export const READ_AHEAD_BYTES = 16 * 1024;

/**
 * One side of a control connection (client or upstream): the stream, its line reader, the
 * reasons it is paused and the lines read but not yet handled. The session routes between two of
 * them and never touches a stream itself.
 *
 * `swapStream` replaces the stream in place (a TLS upgrade, a stream behind a PROXY header): the
 * line reader, the waiting lines and the pause reasons stay, so a line begun on the old stream
 * ends on the new one, and the old stream's events no longer reach the session. The wiring is in
 * one place, as in ws's `WebSocket.setSocket(socket, head)` and basic-ftp's `FtpContext.socket`.
 */
export class ControlChannel {
  private current: Duplex;
  private readonly reader: LineReader;
  private readonly pauses = new Set<PauseReason>();
  /** Read, not yet handed to the session: lines wait here while the channel is held. */
  private readonly inbound: Inbound[] = [];
  /** Read while paused for a scanned reason: handed on (after `inbound`) once no such reason is left. */
  private readAhead: Inbound[] = [];
  private readAheadBytes = 0;
  private held = false;
  private pumping = false;
  private endQueued = false;
  private stopped = false;

  /** A tail was handed on as a line: its LF, if it comes after all, is not a line of its own. */
  private dropLoneLf = false;

  private readonly onData = (chunk: Buffer): void => {
    const arrived: Inbound[] = [];
    const result = this.reader.push(chunk);
    let skipped = result.ok ? result.skipped : undefined;
    if (this.dropLoneLf && result.lines[0]?.length === 1 && result.lines[0][0] === 0x0a) {
      result.lines.shift();
      skipped = skipped?.map((index) => Math.max(0, index - 1));
    }
    this.dropLoneLf = false;
    if (skipped === undefined) {
      for (const line of result.lines) arrived.push(line);
    } else {
      let next = 0;
      result.lines.forEach((line, index) => {
        for (; skipped[next] === index; next++) arrived.push('too-long');
        arrived.push(line);
      });
      for (; next < skipped.length; next++) arrived.push('too-long');
    }
    if (!result.ok) arrived.push('too-long');
    const tail = this.reader.peekPending();
    if (tail !== undefined && this.framing.completesTail?.(tail) === true) {
      this.reader.takePending();
      // The client did send the LF: as urgent data, which the socket does not hand over.
      arrived.push(Buffer.concat([tail, LINE_FEED]));
      this.dropLoneLf = true;
    }
    for (const item of arrived) this.enqueue(item);
    if (this.readAhead.length > 0 && !this.canScan()) this.current.pause();
    this.pump();
  };
  private readonly onEnd = (): void => this.queueEnd();
  private readonly onClose = (): void => {
    this.handlers.close();
    this.queueEnd();
  };
  private readonly onError = (error: Error): void => this.handlers.error(error);
  private readonly onDrain = (): void => this.handlers.drain();

  constructor(
    stream: Duplex,
    private readonly handlers: ControlChannelHandlers,
    maxLineBytes?: number,
    private readonly framing: ChannelFraming = {},
  ) {
    this.reader = new LineReader(maxLineBytes, framing);
    this.current = stream;
    this.attach(stream);
  }

  get stream(): Duplex {
    return this.current;
  }

  get maxLineBytes(): number {
    return this.reader.maxLineBytes;
  }

  /** Writes; false when the stream's buffer is full (wait for the `drain` handler). */
  write(bytes: Buffer): boolean {
    return this.current.write(bytes);
  }

  isPausedFor(reason: PauseReason): boolean {
    return this.pauses.has(reason);
  }

  pause(reason: PauseReason): void {
    this.pauses.add(reason);
    if (!this.canScan()) this.current.pause();
  }

  resume(reason: PauseReason): void {
    if (!this.pauses.delete(reason)) return;
    const readAheadDue = this.readAhead.length > 0 && !this.scannedPause();
    if (readAheadDue) {
      this.inbound.push(...this.readAhead);
      this.readAhead = [];
      this.readAheadBytes = 0;
    }
    // Not at once: resume is called while a reply is routed, and a command handled inside that
    // would see the queue half updated.
    if (WITHHOLDS_LINES.has(reason) || readAheadDue) queueMicrotask(() => this.pump());
    if (this.pauses.size > 0 || this.stopped) return;
    this.current.resume();
  }

  /** Later lines wait (and reading stops) until `release()`: the line being handled needs I/O first. */
  hold(): void {
    this.held = true;
    this.pause('processing');
  }

  /** Hands the waiting lines on, in order, until the session holds the channel again. */
  release(): void {
    this.held = false;
    if (this.stopped) return;
    this.resume('processing');
    this.pump();
  }

  /** Puts the line being handled back at the head: it is handled again after `release()`. */
  putBack(line: Buffer): void {
    this.inbound.unshift(line);
  }

  /**
   * The bytes read but not handed to the session yet (waiting lines, an unfinished line), removed
   * from the channel: after `AUTH TLS` they are the start of the client's TLS handshake, which the
   * TLS layer must read before the new stream's first byte.
   */
  takeUnread(): Buffer {
    const parts: Buffer[] = [];
    const markers: Inbound[] = [];
    this.readAheadBytes = 0;
    for (const item of [...this.inbound.splice(0), ...this.readAhead.splice(0)]) {
      if (Buffer.isBuffer(item)) parts.push(item);
      else markers.push(item);
    }
    this.inbound.push(...markers);
    const tail = this.reader.takePending();
    if (tail !== undefined) parts.push(tail);
    return Buffer.concat(parts);
  }

  /**
   * Replaces the stream, keeping what was read: the new stream's bytes continue the same line
   * reader. The old stream is paused and left to its owner (a TLS socket wraps it); its errors are
   * swallowed here because whatever wraps it reports them.
   */
  swapStream(stream: Duplex): void {
    const old = this.current;
    old.pause();
    old.off('data', this.onData);
    old.off('end', this.onEnd);
    old.off('close', this.onClose);
    old.off('error', this.onError);
    old.off('drain', this.onDrain);
    old.on('error', ignoreError);
    this.current = stream;
    this.attach(stream);
  }

  /**
   * Sends `lastBytes` and EOF, so they arrive, and destroys the stream after `graceMs` if the peer
   * has not closed by then; at once when the stream can no longer write. No line is handed on.
   */
  endGracefully(lastBytes: Buffer | string, graceMs: number): void {
    this.stop();
    const stream = this.current;
    if (stream.destroyed || !stream.writable) {
      stream.destroy();
      return;
    }
    stream.end(lastBytes);
    const grace = setTimeout(() => stream.destroy(), graceMs);
    grace.unref();
    stream.once('close', () => clearTimeout(grace));
  }

  /** Passes the peer's EOF on: everything written before arrives, then EOF. */
  endWriting(): void {
    this.current.end();
  }

  destroy(): void {
    this.stop();
    this.current.destroy();
  }

  /** The peer's EOF has been read. */
  get readableEnded(): boolean {
    return this.current.readableEnded;
  }

  private stop(): void {
    this.stopped = true;
    this.inbound.length = 0;
    this.readAhead = [];
    this.readAheadBytes = 0;
  }

  /** Paused, and every reason is one the channel still reads through (looking for an ABOR). */
  private scannedPause(): boolean {
    if (this.framing.urgentLine === undefined || this.pauses.size === 0) return false;
    for (const reason of this.pauses) if (!SCANNED_PAUSES.has(reason)) return false;
    return true;
  }

  /** Reading may go on although paused: a scanned pause only, and room left in the read-ahead. */
  private canScan(): boolean {
    return !this.stopped && this.scannedPause() && this.readAheadBytes < READ_AHEAD_BYTES;
  }

  /**
   * A line or event just read: to `inbound`, or, during a scanned pause, to the read-ahead (the
   * order kept: once anything waits there, everything after it does); an urgent line goes on now.
   */
  private enqueue(item: Inbound): void {
    if (this.readAhead.length === 0 && !this.scannedPause()) {
      this.inbound.push(item);
      return;
    }
    if (Buffer.isBuffer(item) && this.framing.urgentLine?.(item) === true && !this.held && !this.stopped) {
      this.handlers.line(item);
      return;
    }
    this.readAhead.push(item);
    this.readAheadBytes += Buffer.isBuffer(item) ? item.length : item === 'too-long' ? this.reader.maxLineBytes : 0;
  }

  private attach(stream: Duplex): void {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onClose);
    stream.on('error', this.onError);
    stream.on('drain', this.onDrain);
    if (this.pauses.size > 0) stream.pause();
    else stream.resume();
  }

  private queueEnd(): void {
    if (this.endQueued) return;
    this.endQueued = true;
    this.enqueue({ end: this.reader.takePending() });
    this.pump();
  }

  private withholdsLines(): boolean {
    for (const reason of this.pauses) if (WITHHOLDS_LINES.has(reason)) return true;
    return false;
  }

  /** An ABOR read in the same chunk as commands the pipeline pause withholds goes on without them. */
  private handOnUrgentLines(): void {
    const isUrgent = this.framing.urgentLine;
    if (isUrgent === undefined) return;
    for (let index = 0; index < this.inbound.length && !this.stopped; ) {
      const item = this.inbound[index];
      if (Buffer.isBuffer(item) && isUrgent(item)) {
        this.inbound.splice(index, 1);
        this.handlers.line(item);
      } else {
        index++;
      }
    }
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.held && !this.stopped && !this.withholdsLines()) {
        const item = this.inbound.shift();
        if (item === undefined) break;
        if (Buffer.isBuffer(item)) this.handlers.line(item);
        else if (item === 'too-long') this.handlers.tooLong();
        else this.handlers.end(item.end);
      }
      if (!this.held && !this.stopped && this.withholdsLines()) this.handOnUrgentLines();
    } finally {
      this.pumping = false;
    }
  }
}

function ignoreError(): void {}

