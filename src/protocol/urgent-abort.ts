/**
 * ABOR sent as TCP urgent data. Python's ftplib sends `ABOR\r\n` with MSG_OOB; RFC 959 (4.1.3)
 * clients send Telnet IP and Synch (`IAC IP IAC DM`) with the IAC before DM urgent. The kernel
 * hands a reader that has not set SO_OOBINLINE (Node cannot set it) the stream without the one
 * byte at the urgent mark: ftplib's command arrives as `ABOR\r` and its LF never comes, and the
 * Synch arrives as `IAC IP DM ABOR\r\n`. The command parser refuses the second (a lone DM is
 * not Telnet the server strips), so `readUrgentAbort` recognises it; the first is recognised here,
 * as a line's unfinished tail. Either way ftpmasq sends the server a plain `ABOR`, which no server
 * can read as anything else.
 */
import { parseCommand, type ClientCommand } from './command.js';

const IAC = 0xff;
const DM = 0xf2;
const CR = 0x0d;

/** The Telnet bytes a client puts before ABOR (IAC x pairs, a lone DM), skipped. */
function skipTelnetBytes(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length) {
    if (bytes[i] === IAC) i += 2;
    else if (bytes[i] === DM) i += 1;
    else break;
  }
  return i;
}

/**
 * True when `tail`, the unfinished rest of what a client sent, is an ABOR whose LF was taken as
 * urgent data: `ABOR\r` in any case, after any Telnet bytes, and nothing else. A normal ABOR
 * split after its CR looks the same; its LF then comes alone, and the caller drops it.
 */
export function isUrgentAbortTail(tail: Buffer): boolean {
  const start = skipTelnetBytes(tail);
  if (tail.length - start !== 5 || tail[start + 4] !== CR) return false;
  return tail.subarray(start, start + 4).toString('latin1').toUpperCase() === 'ABOR';
}

/** What ftpmasq sends upstream for any form of ABOR: the command alone, in the plain form every server reads. */
export const ABOR_LINE: Buffer = Buffer.from('ABOR\r\n');

/**
 * An ABOR whose Synch lost its urgent IAC (`IAC IP DM ABOR`), which the command parser refuses:
 * the command to dispatch, forwarded as a plain ABOR; undefined for any other line.
 */
export function readUrgentAbort(line: Buffer): ClientCommand | undefined {
  const start = skipTelnetBytes(line);
  if (start === 0) return undefined;
  const rest = line.subarray(start).toString('latin1');
  if (!/^abor(\r\n|\r|\n)?$/i.test(rest)) return undefined;
  return { verb: 'ABOR', argument: Buffer.alloc(0), line, forward: ABOR_LINE };
}

/**
 * True for a line that is an ABOR in any form ftpmasq dispatches as one: what a paused client
 * channel still hands on at once.
 */
export function isAbortLine(line: Buffer): boolean {
  const parsed = parseCommand(line);
  if (parsed.ok) return parsed.value.verb === 'ABOR';
  return readUrgentAbort(line) !== undefined;
}
