/**
 * Classifies upstream reply lines into RFC 959 replies (section 4.2), including multi-line
 * replies: `211-First line` ... `211 End`. Only the ASCII reply code is looked at; the text is
 * left as bytes.
 *
 * A line may start with Telnet commands before its code: ProFTPD answers a client's
 * `IAC WILL x` with `IAC DONT x` written just before the reply to that command. Such a line is
 * still that reply; missing it would pair every later reply with the command before its own.
 */
import { telnetPrefixLength } from './telnet.js';

export interface ReplyLine {
  readonly line: Buffer;
  /** The Telnet commands before the code (usually empty): a rewritten line keeps them in front. */
  readonly telnetPrefix: Buffer;
  /** The line after `telnetPrefix`: code, text and terminator, as parse227/parse229 expect. */
  readonly text: Buffer;
  /** The reply code of the reply this line belongs to; undefined for a stray line. */
  readonly code: number | undefined;
  readonly first: boolean;
  /** The line that completes the reply. */
  readonly last: boolean;
}

const DIGIT_0 = 0x30;
const SPACE = 0x20;
const HYPHEN = 0x2d;

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= DIGIT_0 && byte <= DIGIT_0 + 9;
}

/** The three-digit code at the start of the line (after any Telnet commands), or undefined. */
export function readReplyCode(line: Buffer): number | undefined {
  return readCodeAtStart(line.subarray(telnetPrefixLength(line)));
}

function readCodeAtStart(line: Buffer): number | undefined {
  const a = line[0];
  const b = line[1];
  const c = line[2];
  if (a === undefined || b === undefined || c === undefined) return undefined;
  if (!isDigit(a) || !isDigit(b) || !isDigit(c)) return undefined;
  if (isDigit(line[3])) return undefined; // four digits is not a reply code
  return (a - DIGIT_0) * 100 + (b - DIGIT_0) * 10 + (c - DIGIT_0);
}

/** What follows the code: ' ' or the end of the line ends the reply, '-' opens a multi-line one. */
function separatorAfterCode(line: Buffer): 'final' | 'continued' | 'other' {
  const sep = line[3];
  if (sep === undefined || sep === SPACE || sep === 0x0d || sep === 0x0a) return 'final';
  if (sep === HYPHEN) return 'continued';
  return 'other';
}

export class ReplyTracker {
  private openCode: number | undefined;

  /** True while a multi-line reply has begun and not ended. */
  get inMultiLine(): boolean {
    return this.openCode !== undefined;
  }

  classify(line: Buffer): ReplyLine {
    const prefixLength = telnetPrefixLength(line);
    const telnetPrefix = line.subarray(0, prefixLength);
    const text = line.subarray(prefixLength);
    const reply = { line, telnetPrefix, text };
    const openCode = this.openCode;
    if (openCode !== undefined) {
      // RFC 959: the reply ends at a line that starts with the same code followed by a space.
      // Lines in between may start with anything, other codes included.
      const code = readCodeAtStart(text);
      const last = code === openCode && separatorAfterCode(text) === 'final';
      if (last) this.openCode = undefined;
      return { ...reply, code: openCode, first: false, last };
    }
    const code = readCodeAtStart(text);
    if (code === undefined) return { ...reply, code: undefined, first: true, last: true };
    switch (separatorAfterCode(text)) {
      case 'final':
        return { ...reply, code, first: true, last: true };
      case 'continued':
        this.openCode = code;
        return { ...reply, code, first: true, last: false };
      case 'other':
        return { ...reply, code: undefined, first: true, last: true };
    }
  }
}

export function isPreliminary(code: number): boolean {
  return code >= 100 && code < 200;
}

/**
 * The codes of a reply to STAT (RFC 959 4.2: 211 system status, 212 directory status, 213 file
 * status). Never the final reply to a transfer command, so one that comes while a transfer awaits
 * its final reply answers a STAT sent during it.
 */
export function isStatusReply(code: number): boolean {
  return code >= 211 && code <= 213;
}
