/**
 * Bounded, incremental line framing for one direction of an FTP control connection.
 *
 * Lines are returned as the exact bytes received, terminator included (CRLF or a bare LF,
 * which some servers and scripts send), so a line nobody rewrites is forwarded unchanged.
 * The reader never owns a socket: it is fed chunks and answers with lines.
 */
export const DEFAULT_MAX_LINE_BYTES = 8192;

const LF = 0x0a;

export type LineReaderResult =
  /**
   * `skipped`, only when overlong lines are skipped: for each line dropped as too long, the
   * number of `lines` that came before it in this push, so the caller can answer it in order.
   * A line is reported once, as soon as it passes the cap (its LF may come much later).
   */
  | { ok: true; lines: Buffer[]; skipped?: number[] }
  /** `lines` holds the complete lines that came before the overlong one. */
  | { ok: false; reason: 'line-too-long'; lines: Buffer[] };

export interface LineReaderOptions {
  /**
   * `fail` (the default): an overlong line ends the framing for good. `skip`: the line's bytes
   * are dropped up to its LF, reported in `skipped`, and the lines after it are read as usual;
   * memory stays within the cap however long the line runs.
   */
  readonly overlong?: 'fail' | 'skip';
}

export class LineReader {
  readonly maxLineBytes: number;
  private readonly skipOverlong: boolean;
  private tail: Buffer | undefined;
  private failed = false;
  /** Skipping the rest of an overlong line, up to its LF. */
  private discarding = false;

  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES, options: LineReaderOptions = {}) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 3) {
      throw new RangeError(`maxLineBytes must be an integer >= 3, got ${maxLineBytes}`);
    }
    this.maxLineBytes = maxLineBytes;
    this.skipOverlong = options.overlong === 'skip';
  }

  /** Bytes of an unfinished line kept between chunks. */
  get pendingBytes(): number {
    return this.tail?.length ?? 0;
  }

  push(chunk: Buffer): LineReaderResult {
    if (this.failed) return { ok: false, reason: 'line-too-long', lines: [] };
    const lines: Buffer[] = [];
    const skipped: number[] = [];
    let start = 0;
    if (this.discarding) {
      const newline = chunk.indexOf(LF);
      if (newline === -1) return this.result(lines, skipped);
      // Reported when it passed the cap; its rest ends here.
      this.discarding = false;
      start = newline + 1;
    }
    const tail = this.tail;
    if (tail !== undefined && start === 0) {
      const newline = chunk.indexOf(LF);
      if (newline === -1) {
        if (tail.length + chunk.length > this.maxLineBytes) return this.overflow(lines, skipped);
        this.tail = Buffer.concat([tail, chunk]);
        return this.result(lines, skipped);
      }
      if (tail.length + newline + 1 > this.maxLineBytes) {
        this.tail = undefined;
        if (!this.skipOverlong) return this.fail(lines);
        skipped.push(lines.length);
      } else {
        lines.push(Buffer.concat([tail, chunk.subarray(0, newline + 1)]));
        this.tail = undefined;
      }
      start = newline + 1;
    }
    while (start < chunk.length) {
      const newline = chunk.indexOf(LF, start);
      if (newline === -1) {
        if (chunk.length - start > this.maxLineBytes) return this.overflow(lines, skipped);
        // Copy: the caller may reuse or retain the chunk, and a subarray would pin all of it.
        this.tail = Buffer.from(chunk.subarray(start));
        break;
      }
      if (newline + 1 - start > this.maxLineBytes) {
        if (!this.skipOverlong) return this.fail(lines);
        skipped.push(lines.length);
      } else {
        lines.push(chunk.subarray(start, newline + 1));
      }
      start = newline + 1;
    }
    return this.result(lines, skipped);
  }

  /** The bytes of the unfinished line, left in place. */
  peekPending(): Buffer | undefined {
    return this.tail;
  }

  /**
   * The bytes of an unfinished line, handed over when the peer closes: "bytes in, bytes out"
   * holds for a last reply sent without its CRLF too. The reader is empty afterwards.
   */
  takePending(): Buffer | undefined {
    const tail = this.tail;
    this.tail = undefined;
    return tail;
  }

  /** An unfinished line has grown past the cap: skipped up to its LF, or the end of the framing. */
  private overflow(lines: Buffer[], skipped: number[]): LineReaderResult {
    this.tail = undefined;
    if (!this.skipOverlong) return this.fail(lines);
    // Reported now, not at its LF: a peer sending an endless line learns at once.
    skipped.push(lines.length);
    this.discarding = true;
    return this.result(lines, skipped);
  }

  private result(lines: Buffer[], skipped: number[]): LineReaderResult {
    return skipped.length === 0 ? { ok: true, lines } : { ok: true, lines, skipped };
  }

  private fail(lines: Buffer[]): LineReaderResult {
    this.failed = true;
    this.tail = undefined;
    return { ok: false, reason: 'line-too-long', lines };
  }
}

/** The line without its terminator (CRLF, or a bare LF). */
export function stripLineEnding(line: Buffer): Buffer {
  let end = line.length;
  if (end === 0 || line[end - 1] !== LF) return line;
  end--;
  if (end > 0 && line[end - 1] === 0x0d) end--;
  return line.subarray(0, end);
}

/** The terminator the peer used, so a rewritten line keeps the peer's style. */
export function lineEnding(line: Buffer): '\r\n' | '\n' | '' {
  const n = line.length;
  if (n >= 2 && line[n - 2] === 0x0d && line[n - 1] === LF) return '\r\n';
  if (n >= 1 && line[n - 1] === LF) return '\n';
  return '';
}
