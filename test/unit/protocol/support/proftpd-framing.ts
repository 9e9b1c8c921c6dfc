/**
 * A reference model of how ProFTPD 1.3.8 frames the bytes it reads on a control connection into
 * commands, written for tests from reading its source (src/netio.c `pr_netio_telnet_gets2`,
 * src/main.c `pr_cmd_read` and `make_ftp_cmd`, src/str.c `pr_str_get_word`); docs/DESIGN.md,
 * "Command framing", states the same rules in prose. It models what decides the verb and the
 * argument, not the replies: `invalid` is ProFTPD's `500 Invalid command`, `dropped` a line too
 * long for its buffer, read and thrown away without any reply.
 */
const NUL = 0x00;
const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const IAC = 0xff;
const IP = 0xf4;
const DM = 0xf2;

export type ServerRead =
  | { kind: 'command'; verb: string; argument: Buffer }
  | { kind: 'invalid' }
  | { kind: 'dropped' };

/** The default CommandBufferSize: PR_TUNABLE_PATH_MAX (4096 on Linux) + 7. */
export const PROFTPD_COMMAND_BUFFER = 4096 + 7;

/** C `isspace()` in the C locale, as ProFTPD's PR_ISSPACE (ASCII only). */
function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || (byte !== undefined && byte >= 0x09 && byte <= 0x0d);
}

function isNegotiation(byte: number): boolean {
  return byte >= 0xfb && byte <= 0xfe;
}

/** A C string view: the bytes up to the first NUL. */
function cString(bytes: Buffer): Buffer {
  const nul = bytes.indexOf(NUL);
  return nul === -1 ? bytes : bytes.subarray(0, nul);
}

/** `pr_str_get_word`: one word, with ProFTPD's quoting ("..." with backslash escapes). */
function getWord(text: Buffer, from: number): { word: Buffer; next: number } | undefined {
  let i = from;
  while (i < text.length && isSpace(text[i])) i++;
  if (i >= text.length) return undefined;
  const word: number[] = [];
  const quoted = text[i] === QUOTE;
  if (quoted) i++;
  while (i < text.length && (quoted ? text[i] !== QUOTE : !isSpace(text[i]))) {
    let byte = text[i] ?? NUL;
    if (byte === BACKSLASH && quoted && i + 1 < text.length) {
      i++;
      byte = text[i] ?? NUL;
    }
    word.push(byte);
    i++;
  }
  if (i < text.length) i++; // the separator or the closing quote
  return { word: Buffer.from(word), next: i };
}

/** `pr_cmd_read` and `make_ftp_cmd` on one line as the Telnet reader left it (ending in LF). */
function readLine(decoded: Buffer): ServerRead {
  let length = decoded.length;
  for (let strip = 0; strip < 2 && length > 0; strip++) {
    const last = decoded[length - 1];
    if (last !== LF && last !== CR) break;
    length--;
  }
  let start = 0;
  if (decoded[0] === CR) start = 1;
  const line = decoded.subarray(start, length);
  const text = cString(line);
  if (text.length === 0) return { kind: 'invalid' };
  if (isSpace(text[0])) return { kind: 'invalid' };
  const first = getWord(text, 0);
  if (first === undefined) return { kind: 'invalid' };
  const verb = first.word.toString('latin1').replace(/[a-z]/g, (letter) => letter.toUpperCase());
  // The argument is copied from the whole line (not the C string), dropping the NUL of each
  // CR NUL pair (RFC 2640 3.1), and then read as a C string.
  const rest = line.subarray(Math.min(first.next, line.length));
  const kept: number[] = [];
  for (let i = 0; i < rest.length; i++) {
    if (i > 1 && rest[i] === NUL && rest[i - 1] === CR) continue;
    kept.push(rest[i] ?? NUL);
  }
  return { kind: 'command', verb, argument: cString(Buffer.from(kept)) };
}

/**
 * Every command ProFTPD reads from `stream`, in order. A line ends only at an LF whose preceding
 * raw byte is a CR; an unfinished line at the end is not read. Telnet state carries over from
 * one line to the next, as ProFTPD keeps it in a static variable.
 */
export function proftpdReadCommands(stream: Buffer, commandBuffer = PROFTPD_COMMAND_BUFFER): ServerRead[] {
  const reads: ServerRead[] = [];
  const capacity = commandBuffer - 1;
  let mode: 'data' | 'iac' | 'option' = 'data';
  let decoded: number[] = [];
  let overflowed = false;
  let previousRaw: number | undefined;
  const emit = (byte: number): void => {
    if (decoded.length >= capacity) overflowed = true;
    else decoded.push(byte);
  };
  for (const byte of stream) {
    if (byte === LF && previousRaw === CR) {
      if (overflowed || decoded.length >= capacity) {
        reads.push({ kind: 'dropped' });
      } else {
        if (decoded.at(-1) === CR) decoded[decoded.length - 1] = LF;
        else decoded.push(LF);
        reads.push(readLine(Buffer.from(decoded)));
      }
      decoded = [];
      overflowed = false;
      previousRaw = byte;
      continue;
    }
    previousRaw = byte;
    switch (mode) {
      case 'iac':
        mode = 'data';
        if (isNegotiation(byte)) mode = 'option';
        else if (byte === IP || byte === DM) break;
        else if (byte === IAC) emit(IAC);
        else {
          emit(IAC);
          emit(byte);
        }
        break;
      case 'option':
        // The option byte is answered (IAC DONT/WONT x) and dropped, whatever it is.
        mode = 'data';
        break;
      case 'data':
        if (byte === IAC) mode = 'iac';
        else emit(byte);
        break;
    }
  }
  return reads;
}
