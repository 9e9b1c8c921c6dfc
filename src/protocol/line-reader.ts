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
  | { ok: true; lines: Buffer[] }
  /** `lines` holds the complete lines that came before the overlong one. */
  | { ok: false; reason: 'line-too-long'; lines: Buffer[] };

export class LineReader {
  readonly maxLineBytes: number;
  private tail: Buffer | undefined;
  private failed = false;

  constructor(maxLineBytes: number = DEFAULT_MAX_LINE_BYTES) {
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 3) {
      throw new RangeError(`maxLineBytes must be an integer >= 3, got ${maxLineBytes}`);
    }
    this.maxLineBytes = maxLineBytes;
  }

  /** Bytes of an unfinished line kept between chunks. */
  get pendingBytes(): number {
    return this.tail?.length ?? 0;
  }

  push(chunk: Buffer): LineReaderResult {
    if (this.failed) return { ok: false, reason: 'line-too-long', lines: [] };
    const lines: Buffer[] = [];
    let start = 0;
    const tail = this.tail;
    if (tail !== undefined) {
      const newline = chunk.indexOf(LF);
      if (newline === -1) {
        if (tail.length + chunk.length > this.maxLineBytes) return this.fail(lines);
        this.tail = Buffer.concat([tail, chunk]);
        return { ok: true, lines };
      }
      if (tail.length + newline + 1 > this.maxLineBytes) return this.fail(lines);
      lines.push(Buffer.concat([tail, chunk.subarray(0, newline + 1)]));
      this.tail = undefined;
      start = newline + 1;
    }
    while (start < chunk.length) {
      const newline = chunk.indexOf(LF, start);
      if (newline === -1) {
        if (chunk.length - start > this.maxLineBytes) return this.fail(lines);
        // Copy: the caller may reuse or retain the chunk, and a subarray would pin all of it.
        this.tail = Buffer.from(chunk.subarray(start));
        break;
      }
      if (newline + 1 - start > this.maxLineBytes) return this.fail(lines);
      lines.push(chunk.subarray(start, newline + 1));
      start = newline + 1;
    }
    return { ok: true, lines };
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
