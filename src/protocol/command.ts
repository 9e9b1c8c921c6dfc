import { stripLineEnding } from './line-reader.js';

/**
 * A client command line: the verb, upper-cased ASCII, and the argument as raw bytes.
 * The argument is never decoded: a path may be UTF-8 or Shift_JIS.
 */
export interface ClientCommand {
  readonly verb: string;
  readonly argument: Buffer;
  readonly line: Buffer;
}

const IAC = 0xff;
const SPACE = 0x20;
const MAX_VERB_BYTES = 16;

/**
 * Clients send ABOR behind Telnet "Interrupt Process" and "Synch" (RFC 959 4.1.3):
 * IAC IP IAC DM ABOR. Those bytes are skipped to read the verb, and forwarded as they came.
 */
function skipTelnetPrefix(body: Buffer): number {
  let i = 0;
  while (i < body.length) {
    const byte = body[i];
    if (byte === IAC) {
      i += 2;
      continue;
    }
    // DM (0xF2) may arrive on its own when IAC was sent as urgent data and read separately.
    if (byte === 0xf2) {
      i += 1;
      continue;
    }
    break;
  }
  return Math.min(i, body.length);
}

export function parseCommand(line: Buffer): ClientCommand {
  const body = stripLineEnding(line);
  const verbStart = skipTelnetPrefix(body);
  let verbEnd = body.indexOf(SPACE, verbStart);
  if (verbEnd === -1) verbEnd = body.length;
  const verbBytes = body.subarray(verbStart, Math.min(verbEnd, verbStart + MAX_VERB_BYTES));
  // ASCII-only upper-casing: latin1 "ß" must not become "SS" and forge a verb.
  const verb = verbBytes.toString('latin1').replace(/[a-z]/g, (letter) => letter.toUpperCase());
  const argument = verbEnd < body.length ? body.subarray(verbEnd + 1) : Buffer.alloc(0);
  return { verb, argument, line };
}

/** The argument as ASCII text, trimmed: for the few arguments ftpmasq reads (PORT, EPRT, AUTH, EPSV). */
export function argumentText(command: ClientCommand): string {
  return command.argument.toString('latin1').trim();
}
