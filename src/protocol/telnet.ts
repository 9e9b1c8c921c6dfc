/**
 * The Telnet layer under the FTP control connection (RFC 959 section 4.1.3, RFC 854), read the
 * way ProFTPD reads it (`pr_netio_telnet_gets2` in src/netio.c), so that ftpmasq sees the same
 * command bytes the server will act on. See docs/DESIGN.md, "Command framing".
 */
export const IAC = 0xff;
export const DONT = 0xfe;
export const DO = 0xfd;
export const WONT = 0xfc;
export const WILL = 0xfb;
export const SB = 0xfa;
export const IP = 0xf4;
export const DM = 0xf2;
export const SE = 0xf0;

/** WILL, WONT, DO, DONT: option negotiation, always followed by one option byte. */
export function isNegotiation(byte: number | undefined): boolean {
  return byte === WILL || byte === WONT || byte === DO || byte === DONT;
}

export type TelnetDecodeResult =
  /** `bytes` is the input itself (not a copy) when it held no IAC byte. */
  | { ok: true; bytes: Buffer }
  | { ok: false; reason: 'incomplete-telnet' };

/**
 * A command line's bytes as the server reads them after its Telnet layer:
 * - `IAC WILL|WONT|DO|DONT x`: removed, whatever x is (the server answers `IAC DONT|WONT x`);
 * - `IAC IP`, `IAC DM` (the Synch sent before ABOR): removed;
 * - `IAC IAC`: one data byte 0xFF;
 * - `IAC` and any other byte (NOP, AYT, GA ...): both kept as data, as ProFTPD keeps them.
 * A line that ends inside a sequence (`IAC`, `IAC WILL`) is incomplete: the server would take
 * the line's own terminator as the rest of the sequence and read on into the next line.
 */
export function decodeTelnet(line: Buffer): TelnetDecodeResult {
  const firstIac = line.indexOf(IAC);
  if (firstIac === -1) return { ok: true, bytes: line };
  const out = Buffer.allocUnsafe(line.length);
  let length = line.copy(out, 0, 0, firstIac);
  let i = firstIac;
  while (i < line.length) {
    const byte = line[i];
    if (byte !== IAC) {
      out[length++] = byte ?? 0;
      i++;
      continue;
    }
    const command = line[i + 1];
    if (command === undefined) return { ok: false, reason: 'incomplete-telnet' };
    if (isNegotiation(command)) {
      if (i + 2 >= line.length) return { ok: false, reason: 'incomplete-telnet' };
      i += 3;
    } else if (command === IP || command === DM) {
      i += 2;
    } else if (command === IAC) {
      out[length++] = IAC;
      i += 2;
    } else {
      out[length++] = IAC;
      out[length++] = command;
      i += 2;
    }
  }
  return { ok: true, bytes: out.subarray(0, length) };
}

/**
 * The number of bytes of Telnet commands at the start of a reply line: ProFTPD answers a client's
 * `IAC WILL x` with `IAC DONT x` just before the reply to that line's command, so the reply code
 * follows them. Option negotiation (3 bytes) and the two-byte commands are skipped; `IAC IAC` is
 * a data byte 0xFF and ends the prefix, and so does `IAC SB`, whose payload is not a reply.
 */
export function telnetPrefixLength(line: Buffer): number {
  let i = 0;
  while (line[i] === IAC) {
    const command = line[i + 1];
    if (command === undefined || command === IAC || command === SB || command < SE) break;
    const size = isNegotiation(command) ? 3 : 2;
    if (i + size > line.length) break;
    i += size;
  }
  return i;
}
