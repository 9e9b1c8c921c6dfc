/**
 * Client command lines, framed the way the server frames them (docs/DESIGN.md, "Command
 * framing"): ftpmasq must act on the verb the server will execute, or a command it never checked
 * (a `PORT` to a third host, an `AUTH TLS`) reaches the server. A line the server could read
 * differently from ftpmasq is refused, to be answered `500` without reaching the server.
 */
import { stripLineEnding } from './line-reader.js';
import { decodeTelnet } from './telnet.js';

/**
 * A client command line: the verb, upper-cased ASCII, and the argument as raw bytes.
 * The argument is never decoded as text: a path may be UTF-8 or Shift_JIS.
 */
export interface ClientCommand {
  /** ASCII letters, upper-cased (the server upper-cases the verb too). */
  readonly verb: string;
  /**
   * The bytes after the separator that ends the verb, as the server reads them: Telnet commands
   * removed, `IAC IAC` as one 0xFF. A view into the line when it held no 0xFF byte.
   */
  readonly argument: Buffer;
  /** The line as it came from the client, terminator included. */
  readonly line: Buffer;
  /**
   * The bytes to send upstream: the line as it came, ending in CRLF whatever ended it at the
   * client. ProFTPD ends a line only at CRLF, so a bare LF would join it to the next one.
   * The same Buffer as `line` when that already ends in CRLF.
   */
  readonly forward: Buffer;
}

/** Why a line is refused; the session answers `500` and never sends the line upstream. */
export type CommandRefusal =
  /** Nothing but a terminator or Telnet commands: servers disagree on answering it at all. */
  | 'empty'
  /** ProFTPD refuses a line starting with whitespace; ftpmasq does not guess a verb. */
  | 'leading-whitespace'
  /** A CR anywhere but in the terminator: whitespace to ProFTPD (it ends the verb), a line end to others. */
  | 'cr-in-line'
  /** An LF before the end of the line (only when the caller did not frame by LF). */
  | 'lf-in-line'
  /** A NUL byte: the server's C strings end there, so it reads less than ftpmasq would. */
  | 'nul-in-line'
  /** The line ends inside a Telnet sequence, which the server completes with the next line's bytes. */
  | 'incomplete-telnet'
  /** A verb byte that is not an ASCII letter (a quote, IAC, a non-ASCII byte ...). */
  | 'verb-not-letters'
  | 'verb-too-long'
  /** Longer than the server reads in one piece (ProFTPD drops longer lines without a reply). */
  | 'line-too-long';

export type CommandParseResult = { ok: true; value: ClientCommand } | { ok: false; reason: CommandRefusal };

/**
 * The longest line, terminator included, ftpmasq forwards. ProFTPD's default CommandBufferSize
 * is PATH_MAX + 7 (4103 on Linux): a longer line is dropped without any reply, which would pair
 * every later reply with the wrong command. vsftpd's limit is 4096 too.
 */
export const MAX_COMMAND_LINE_BYTES = 4096;
/** Verbs are 3 or 4 letters (RFC 959 5.3.1); a longer word is no command any server knows. */
export const MAX_VERB_LENGTH = 16;

const NUL = 0x00;
const TAB = 0x09;
const LF = 0x0a;
const VT = 0x0b;
const FF = 0x0c;
const CR = 0x0d;
const SPACE = 0x20;
const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * What ends the verb: ProFTPD splits words at `isspace()` in ASCII (SP, TAB, LF, VT, FF, CR).
 * CR and LF never reach this point (refused or the terminator), so these four remain.
 */
function isSeparator(byte: number | undefined): boolean {
  return byte === SPACE || byte === TAB || byte === VT || byte === FF;
}

function isAsciiLetter(byte: number): boolean {
  return (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a);
}

function refuse(reason: CommandRefusal): CommandParseResult {
  return { ok: false, reason };
}

function forwardBytes(line: Buffer, body: Buffer): Buffer {
  if (body.length + 2 === line.length && line[line.length - 2] === CR && line[line.length - 1] === LF) return line;
  return Buffer.concat([body, CRLF]);
}

/**
 * Reads one command line (with or without its terminator: CRLF or a bare LF) the way the server
 * will, or refuses it. Pure; never throws on any input.
 */
export function parseCommand(line: Buffer): CommandParseResult {
  const body = stripLineEnding(line);
  if (body.length + CRLF.length > MAX_COMMAND_LINE_BYTES) return refuse('line-too-long');
  if (body.includes(LF)) return refuse('lf-in-line');
  if (body.includes(CR)) return refuse('cr-in-line');
  if (body.includes(NUL)) return refuse('nul-in-line');
  const decoded = decodeTelnet(body);
  if (!decoded.ok) return refuse(decoded.reason);
  const text = decoded.bytes;
  if (text.length === 0) return refuse('empty');
  if (isSeparator(text[0])) return refuse('leading-whitespace');
  let verbEnd = 0;
  while (verbEnd < text.length && !isSeparator(text[verbEnd])) {
    if (!isAsciiLetter(text[verbEnd] ?? NUL)) return refuse('verb-not-letters');
    verbEnd++;
  }
  if (verbEnd > MAX_VERB_LENGTH) return refuse('verb-too-long');
  const verb = text.toString('latin1', 0, verbEnd).toUpperCase();
  // One separator byte ends the verb; a second one belongs to the argument, as at the server.
  const argument = text.subarray(Math.min(verbEnd + 1, text.length));
  return { ok: true, value: { verb, argument, line, forward: forwardBytes(line, body) } };
}

/**
 * The argument as ASCII text without the separators around it: for the few arguments ftpmasq
 * reads itself (PORT, EPRT, AUTH, EPSV). Bytes map one-to-one to latin1 characters.
 */
export function argumentText(command: Pick<ClientCommand, 'argument'>): string {
  const { argument } = command;
  let start = 0;
  let end = argument.length;
  while (start < end && isSeparator(argument[start])) start++;
  while (end > start && isSeparator(argument[end - 1])) end--;
  return argument.toString('latin1', start, end);
}
