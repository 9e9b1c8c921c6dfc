import { describe, expect, it } from 'vitest';
import {
  argumentText,
  type CommandRefusal,
  MAX_COMMAND_LINE_BYTES,
  parseCommand,
} from '../../../src/protocol/command.js';
import { LineReader, stripLineEnding } from '../../../src/protocol/line-reader.js';
import { proftpdReadCommands } from './support/proftpd-framing.js';

function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

const EMPTY = Buffer.alloc(0);
const UTF8_NAME = Buffer.from('進捗どうですか.jpg', 'utf8');
/** 進捗.txt in Shift_JIS; 0x69 is ASCII 'i' and must not be touched (no decoding, no case change). */
const SJIS_NAME = Buffer.from([0x90, 0x69, 0x92, 0xbb, 0x2e, 0x74, 0x78, 0x74]);
/** 表 in Shift_JIS: the trail byte is 0x5c, ASCII '\'. */
const SJIS_BACKSLASH = Buffer.from([0x95, 0x5c]);
/** RFC 959 4.1.3 / RFC 854: Telnet IAC IP, then IAC DM (Synch), sent before ABOR. */
const IAC_IP_IAC_DM = bytes('\xff\xf4\xff\xf2');
/** IAC WILL 1: a client offering the ECHO option, as a probe or to smuggle a verb. */
const IAC_WILL_1 = bytes('\xff\xfb\x01');

describe('parseCommand: lines it reads', () => {
  const cases: { title: string; input: Buffer; expected: { verb: string; argument: Buffer } }[] = [
    { title: 'verb and argument, CRLF', input: bytes('USER anonymous\r\n'), expected: { verb: 'USER', argument: bytes('anonymous') } },
    { title: 'verb and argument, bare LF', input: bytes('USER anonymous\n'), expected: { verb: 'USER', argument: bytes('anonymous') } },
    { title: 'verb and argument, no terminator', input: bytes('USER anonymous'), expected: { verb: 'USER', argument: bytes('anonymous') } },
    { title: 'lower-case verb', input: bytes('user anonymous\r\n'), expected: { verb: 'USER', argument: bytes('anonymous') } },
    { title: 'mixed-case verb', input: bytes('pAsV\r\n'), expected: { verb: 'PASV', argument: EMPTY } },
    { title: 'the argument keeps its case', input: bytes('user AnonyMous\r\n'), expected: { verb: 'USER', argument: bytes('AnonyMous') } },
    { title: 'no argument, CRLF', input: bytes('PASV\r\n'), expected: { verb: 'PASV', argument: EMPTY } },
    { title: 'no argument, bare LF', input: bytes('PASV\n'), expected: { verb: 'PASV', argument: EMPTY } },
    { title: 'no argument, no terminator', input: bytes('QUIT'), expected: { verb: 'QUIT', argument: EMPTY } },
    { title: 'a one-letter verb', input: bytes('X\r\n'), expected: { verb: 'X', argument: EMPTY } },
    { title: 'a trailing space gives an empty argument', input: bytes('NOOP \r\n'), expected: { verb: 'NOOP', argument: EMPTY } },
    { title: 'an argument with spaces', input: bytes('STOR my holiday photo.jpg\r\n'), expected: { verb: 'STOR', argument: bytes('my holiday photo.jpg') } },
    { title: 'a second space is part of the argument', input: bytes('STOR  leading.txt\r\n'), expected: { verb: 'STOR', argument: bytes(' leading.txt') } },
    { title: 'trailing spaces are part of the argument', input: bytes('STOR trailing  \r\n'), expected: { verb: 'STOR', argument: bytes('trailing  ') } },
    { title: 'a PORT argument', input: bytes('PORT 10,0,0,1,4,1\r\n'), expected: { verb: 'PORT', argument: bytes('10,0,0,1,4,1') } },
    { title: 'an EPRT argument with IPv6', input: bytes('EPRT |2|1080::8:800:200C:417A|5282|\r\n'), expected: { verb: 'EPRT', argument: bytes('|2|1080::8:800:200C:417A|5282|') } },
    { title: 'an EPSV ALL argument', input: bytes('epsv ALL\r\n'), expected: { verb: 'EPSV', argument: bytes('ALL') } },
    { title: 'a UTF-8 argument, bytes kept', input: Buffer.concat([bytes('RETR '), UTF8_NAME, bytes('\r\n')]), expected: { verb: 'RETR', argument: UTF8_NAME } },
    { title: 'a Shift_JIS argument, bytes kept', input: Buffer.concat([bytes('STOR '), SJIS_NAME, bytes('\r\n')]), expected: { verb: 'STOR', argument: SJIS_NAME } },
    { title: "a Shift_JIS argument whose trail byte is '\\'", input: Buffer.concat([bytes('CWD '), SJIS_BACKSLASH, bytes('\r\n')]), expected: { verb: 'CWD', argument: SJIS_BACKSLASH } },
    { title: 'a quote inside the argument is data', input: bytes('RETR "a b"\r\n'), expected: { verb: 'RETR', argument: bytes('"a b"') } },
    // ProFTPD (pr_str_get_word) ends a word at any ASCII isspace(): SP, TAB, VT, FF (and CR, LF).
    { title: 'a TAB ends the verb', input: bytes('PORT\t127,0,0,1,0,22\r\n'), expected: { verb: 'PORT', argument: bytes('127,0,0,1,0,22') } },
    { title: 'a VT ends the verb', input: bytes('PORT\v127,0,0,1,0,22\r\n'), expected: { verb: 'PORT', argument: bytes('127,0,0,1,0,22') } },
    { title: 'an FF ends the verb', input: bytes('PORT\f127,0,0,1,0,22\r\n'), expected: { verb: 'PORT', argument: bytes('127,0,0,1,0,22') } },
    { title: 'EPRT and a TAB', input: bytes('EPRT\t|1|127.0.0.1|22|\r\n'), expected: { verb: 'EPRT', argument: bytes('|1|127.0.0.1|22|') } },
    { title: 'AUTH and a TAB', input: bytes('AUTH\tTLS\r\n'), expected: { verb: 'AUTH', argument: bytes('TLS') } },
    { title: 'a TAB after a space is part of the argument', input: bytes('STOR \tx\r\n'), expected: { verb: 'STOR', argument: bytes('\tx') } },
    { title: 'a space after a TAB is part of the argument', input: bytes('STOR\t x\r\n'), expected: { verb: 'STOR', argument: bytes(' x') } },
    // Telnet (RFC 854) as ProFTPD's pr_netio_telnet_gets2 reads it.
    { title: 'IAC IP IAC DM before ABOR (RFC 959 4.1.3)', input: Buffer.concat([IAC_IP_IAC_DM, bytes('ABOR\r\n')]), expected: { verb: 'ABOR', argument: EMPTY } },
    { title: 'IAC IP IAC DM before lower-case abor, bare LF', input: Buffer.concat([IAC_IP_IAC_DM, bytes('abor\n')]), expected: { verb: 'ABOR', argument: EMPTY } },
    { title: 'IAC IP alone before ABOR', input: bytes('\xff\xf4ABOR\r\n'), expected: { verb: 'ABOR', argument: EMPTY } },
    { title: 'IAC DM alone before ABOR', input: bytes('\xff\xf2ABOR\r\n'), expected: { verb: 'ABOR', argument: EMPTY } },
    { title: 'IAC IP IAC DM before STAT', input: Buffer.concat([IAC_IP_IAC_DM, bytes('STAT\r\n')]), expected: { verb: 'STAT', argument: EMPTY } },
    { title: 'IAC WILL 1 before PORT', input: Buffer.concat([IAC_WILL_1, bytes('PORT 127,0,0,1,0,22\r\n')]), expected: { verb: 'PORT', argument: bytes('127,0,0,1,0,22') } },
    { title: 'IAC WONT 1 before PORT', input: bytes('\xff\xfc\x01PORT 127,0,0,1,0,22\r\n'), expected: { verb: 'PORT', argument: bytes('127,0,0,1,0,22') } },
    { title: 'IAC DO 3 before PORT', input: bytes('\xff\xfd\x03PORT 127,0,0,1,0,22\r\n'), expected: { verb: 'PORT', argument: bytes('127,0,0,1,0,22') } },
    { title: 'IAC DONT 3 before PORT', input: bytes('\xff\xfe\x03PORT 127,0,0,1,0,22\r\n'), expected: { verb: 'PORT', argument: bytes('127,0,0,1,0,22') } },
    { title: 'IAC WILL 1 before NOOP', input: Buffer.concat([IAC_WILL_1, bytes('NOOP\r\n')]), expected: { verb: 'NOOP', argument: EMPTY } },
    { title: 'IAC WILL IAC: the option byte may be 0xff', input: bytes('\xff\xfb\xffPORT 1,2,3,4,5,6\r\n'), expected: { verb: 'PORT', argument: bytes('1,2,3,4,5,6') } },
    { title: 'IAC WILL SP: the option byte may be a space', input: bytes('\xff\xfb PORT x\r\n'), expected: { verb: 'PORT', argument: bytes('x') } },
    { title: 'an option negotiation inside the verb', input: bytes('PO\xff\xfb\x01RT 127,0,0,1,0,22\r\n'), expected: { verb: 'PORT', argument: bytes('127,0,0,1,0,22') } },
    { title: 'IAC IP inside the verb', input: bytes('AU\xff\xf4TH TLS\r\n'), expected: { verb: 'AUTH', argument: bytes('TLS') } },
    { title: 'an option negotiation in place of the separator joins verb and argument', input: bytes('NOOP\xff\xfb\x01X\r\n'), expected: { verb: 'NOOPX', argument: EMPTY } },
    { title: 'several negotiations in a row', input: bytes('\xff\xfb\x01\xff\xfd\x03\xff\xf4USER x\r\n'), expected: { verb: 'USER', argument: bytes('x') } },
    { title: 'IAC IAC in the argument is one 0xff byte', input: bytes('STOR a\xff\xffb\r\n'), expected: { verb: 'STOR', argument: bytes('a\xffb') } },
    { title: 'IAC IAC IAC IAC in the argument is two 0xff bytes', input: bytes('STOR \xff\xff\xff\xff\r\n'), expected: { verb: 'STOR', argument: bytes('\xff\xff') } },
    { title: 'IAC IP IAC DM in the argument are removed, as the server does', input: bytes('RETR \xff\xf4\xff\xf2x\r\n'), expected: { verb: 'RETR', argument: bytes('x') } },
    { title: 'IAC WILL x in the argument is removed', input: bytes('RETR a\xff\xfb\x01b\r\n'), expected: { verb: 'RETR', argument: bytes('ab') } },
    { title: 'IAC NOP in the argument is kept as data, as ProFTPD keeps it', input: bytes('RETR a\xff\xf1b\r\n'), expected: { verb: 'RETR', argument: bytes('a\xff\xf1b') } },
    { title: 'a lone 0xfb (no IAC) in the argument is data', input: bytes('RETR \xfb\xfc\r\n'), expected: { verb: 'RETR', argument: bytes('\xfb\xfc') } },
    { title: 'a verb of 16 letters', input: bytes('ABCDEFGHIJKLMNOP x\r\n'), expected: { verb: 'ABCDEFGHIJKLMNOP', argument: bytes('x') } },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    const parsed = parseCommand(input);
    if (!parsed.ok) throw new Error(`refused: ${parsed.reason}`);
    expect(parsed.value.verb).toBe(expected.verb);
    expect(parsed.value.argument.toString('hex')).toBe(expected.argument.toString('hex'));
    expect(parsed.value.line).toBe(input);
    // The reference model of ProFTPD reads the forwarded bytes as the same command.
    expect(proftpdReadCommands(parsed.value.forward)).toEqual([{ kind: 'command', verb: expected.verb, argument: expected.argument }]);
  });

  it('the argument is a view into the line, not a decoded copy, when the line has no 0xff byte', () => {
    const line = Buffer.concat([bytes('STOR '), SJIS_NAME, bytes('\r\n')]);
    const parsed = parseCommand(line);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(parsed.value.argument.buffer).toBe(line.buffer);
    expect(parsed.value.argument.byteOffset).toBe(line.byteOffset + 5);
  });

  // Regression (found by the unit tier, fixed): latin1 0xdf 'ß' upper-cases to "SS", so "PA\xdf"
  // once parsed as PASS, which the client never sent.
  it('non-ASCII verb bytes never upper-case into an ASCII verb ("PA\\xdf" is not PASS)', () => {
    expect(parseCommand(bytes('PA\xdf secret\r\n'))).toEqual({ ok: false, reason: 'verb-not-letters' });
  });
});

describe('parseCommand: lines it refuses (answered 500, never sent upstream)', () => {
  const cases: { title: string; input: Buffer; expected: CommandRefusal }[] = [
    { title: 'an empty CRLF line', input: bytes('\r\n'), expected: 'empty' },
    { title: 'an empty bare LF line', input: bytes('\n'), expected: 'empty' },
    { title: 'an empty buffer', input: EMPTY, expected: 'empty' },
    { title: 'only Telnet commands', input: Buffer.concat([IAC_IP_IAC_DM, bytes('\r\n')]), expected: 'empty' },
    { title: 'only an option negotiation', input: Buffer.concat([IAC_WILL_1, bytes('\r\n')]), expected: 'empty' },
    { title: 'a leading space', input: bytes(' USER x\r\n'), expected: 'leading-whitespace' },
    { title: 'a leading TAB', input: bytes('\tPORT 127,0,0,1,0,22\r\n'), expected: 'leading-whitespace' },
    { title: 'a leading space after Telnet commands', input: bytes('\xff\xf4 ABOR\r\n'), expected: 'leading-whitespace' },
    // ProFTPD: a CR ends the verb (isspace), and a leading CR is skipped; other servers end the line there.
    { title: 'a CR ending the verb', input: bytes('PORT\r127,0,0,1,0,22\r\n'), expected: 'cr-in-line' },
    { title: 'a leading CR', input: bytes('\rPORT 127,0,0,1,0,22\r\n'), expected: 'cr-in-line' },
    { title: 'a CR inside the argument', input: bytes('RETR a\rb\r\n'), expected: 'cr-in-line' },
    { title: 'a CR NUL pair (RFC 2640 3.1) inside the argument', input: bytes('RETR a\r\x00b\r\n'), expected: 'cr-in-line' },
    { title: 'CR CR LF', input: bytes('NOOP\r\r\n'), expected: 'cr-in-line' },
    { title: 'a CR at the end of an unterminated line', input: bytes('NOOP\r'), expected: 'cr-in-line' },
    { title: 'a CR as the option byte of a negotiation', input: bytes('\xff\xfb\rPORT 1,2,3,4,5,6\r\n'), expected: 'cr-in-line' },
    { title: 'an LF inside the line', input: bytes('NOOP\nPORT 127,0,0,1,0,22\r\n'), expected: 'lf-in-line' },
    { title: 'a NUL ending the verb', input: bytes('AUTH\x00TLS\r\n'), expected: 'nul-in-line' },
    { title: 'a NUL inside the verb', input: bytes('PO\x00RT 1,2,3,4,5,6\r\n'), expected: 'nul-in-line' },
    { title: 'a NUL inside the argument (the server would cut the argument there)', input: bytes('RETR a\x00b\r\n'), expected: 'nul-in-line' },
    { title: 'a lone IAC at the end', input: bytes('\xff'), expected: 'incomplete-telnet' },
    { title: 'a lone IAC before CRLF', input: bytes('NOOP \xff\r\n'), expected: 'incomplete-telnet' },
    { title: 'IAC WILL without its option byte', input: bytes('NOOP\xff\xfb\r\n'), expected: 'incomplete-telnet' },
    { title: 'IAC DO without its option byte, bare LF (the server would take the LF as the option)', input: bytes('NOOP\xff\xfd\n'), expected: 'incomplete-telnet' },
    { title: 'a quoted verb (ProFTPD reads "PORT" as PORT)', input: bytes('"PORT" 127,0,0,1,0,22\r\n'), expected: 'verb-not-letters' },
    { title: 'a quote right after the verb', input: bytes('PORT"127,0,0,1,0,22"\r\n'), expected: 'verb-not-letters' },
    { title: 'a lone DM (no IAC) before ABOR', input: bytes('\xf2ABOR\r\n'), expected: 'verb-not-letters' },
    { title: 'IAC NOP before the verb (kept as data by ProFTPD)', input: bytes('\xff\xf1NOOP\r\n'), expected: 'verb-not-letters' },
    { title: 'IAC IAC before the verb', input: bytes('\xff\xffPORT 1,2,3,4,5,6\r\n'), expected: 'verb-not-letters' },
    { title: 'IAC IAC inside the verb', input: bytes('PO\xff\xffRT 1,2,3,4,5,6\r\n'), expected: 'verb-not-letters' },
    { title: 'a digit in the verb', input: bytes('P0RT 1,2,3,4,5,6\r\n'), expected: 'verb-not-letters' },
    { title: 'a control byte in the verb', input: bytes('PORT\x01 x\r\n'), expected: 'verb-not-letters' },
    { title: 'a non-ASCII byte in the verb', input: bytes('PORT\xa0127,0,0,1,0,22\r\n'), expected: 'verb-not-letters' },
    { title: 'UTF-8 bytes in the verb', input: Buffer.concat([UTF8_NAME, bytes(' x\r\n')]), expected: 'verb-not-letters' },
    { title: 'a verb of 17 letters', input: bytes('ABCDEFGHIJKLMNOPQ x\r\n'), expected: 'verb-too-long' },
    { title: 'a verb of 100 letters, no terminator', input: bytes('A'.repeat(100)), expected: 'verb-too-long' },
    { title: 'a line one byte over the limit', input: bytes(`STOR ${'a'.repeat(MAX_COMMAND_LINE_BYTES - 'STOR '.length - 1)}\r\n`), expected: 'line-too-long' },
    { title: 'a bare-LF line one byte over the limit once forwarded with CRLF', input: bytes(`STOR ${'a'.repeat(MAX_COMMAND_LINE_BYTES - 'STOR '.length - 1)}\n`), expected: 'line-too-long' },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    expect(parseCommand(input)).toEqual({ ok: false, reason: expected });
  });

  it('a line of exactly the limit is read', () => {
    const line = bytes(`STOR ${'a'.repeat(MAX_COMMAND_LINE_BYTES - 'STOR '.length - 2)}\r\n`);
    expect(line.length).toBe(MAX_COMMAND_LINE_BYTES);
    const parsed = parseCommand(line);
    expect(parsed.ok && parsed.value.verb).toBe('STOR');
    // ... and ProFTPD, with its default CommandBufferSize, reads it too (not silently dropped).
    expect(proftpdReadCommands(line)).toMatchObject([{ kind: 'command', verb: 'STOR' }]);
  });

  // The lines of the issue: ProFTPD executes each as the verb on the left, which ftpmasq's old
  // parser read as something else and forwarded unchecked.
  it.each([
    { line: 'PORT\t127,0,0,1,0,22\r\n', serverVerb: 'PORT' },
    { line: 'PORT\r127,0,0,1,0,22\r\n', serverVerb: 'PORT' },
    { line: '\rPORT 127,0,0,1,0,22\r\n', serverVerb: 'PORT' },
    { line: 'EPRT\t|1|127.0.0.1|22|\r\n', serverVerb: 'EPRT' },
    { line: '\xff\xfb\x01PORT 127,0,0,1,0,22\r\n', serverVerb: 'PORT' },
    { line: '"PORT" 127,0,0,1,0,22\r\n', serverVerb: 'PORT' },
    { line: 'AUTH\tTLS\r\n', serverVerb: 'AUTH' },
    { line: 'AUTH\vTLS\r\n', serverVerb: 'AUTH' },
  ])('$line: the server executes $serverVerb; ftpmasq reads $serverVerb or refuses', ({ line, serverVerb }) => {
    const input = bytes(line);
    expect(proftpdReadCommands(input)).toMatchObject([{ kind: 'command', verb: serverVerb }]);
    const parsed = parseCommand(input);
    if (parsed.ok) expect(parsed.value.verb).toBe(serverVerb);
  });
});

describe('parseCommand: the bytes forwarded upstream', () => {
  it.each([
    { title: 'CRLF: the same Buffer', input: 'NOOP\r\n', expected: 'NOOP\r\n' },
    { title: 'a bare LF becomes CRLF', input: 'USER anonymous\n', expected: 'USER anonymous\r\n' },
    { title: 'no terminator gets CRLF', input: 'QUIT', expected: 'QUIT\r\n' },
    { title: 'Telnet bytes are forwarded as they came', input: '\xff\xf4\xff\xf2ABOR\r\n', expected: '\xff\xf4\xff\xf2ABOR\r\n' },
    { title: 'IAC WILL 1 is forwarded (the server answers it)', input: '\xff\xfb\x01NOOP\n', expected: '\xff\xfb\x01NOOP\r\n' },
    { title: 'IAC IAC in the argument is forwarded doubled', input: 'STOR a\xff\xffb\r\n', expected: 'STOR a\xff\xffb\r\n' },
    { title: 'a TAB separator is forwarded as it came', input: 'STOR\tx\n', expected: 'STOR\tx\r\n' },
    { title: 'lower case is forwarded as it came', input: 'retr File.TXT\r\n', expected: 'retr File.TXT\r\n' },
  ])('$title', ({ input, expected }) => {
    const line = bytes(input);
    const parsed = parseCommand(line);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(parsed.value.forward.toString('latin1')).toBe(expected);
    if (input.endsWith('\r\n')) expect(parsed.value.forward).toBe(line);
  });

  it.each([
    { title: 'UTF-8', name: UTF8_NAME },
    { title: 'Shift_JIS', name: SJIS_NAME },
    { title: "Shift_JIS with a '\\' trail byte", name: SJIS_BACKSLASH },
  ])('a $title path is forwarded byte for byte, with CRLF or bare LF', ({ name }) => {
    for (const ending of ['\r\n', '\n']) {
      const line = Buffer.concat([bytes('STOR '), name, bytes(ending)]);
      const parsed = parseCommand(line);
      if (!parsed.ok) throw new Error(parsed.reason);
      expect(parsed.value.forward.equals(Buffer.concat([bytes('STOR '), name, bytes('\r\n')]))).toBe(true);
      expect(stripLineEnding(parsed.value.forward).equals(stripLineEnding(line))).toBe(true);
    }
  });
});

describe('parseCommand behind a LineReader, at every chunk boundary', () => {
  const stream = Buffer.concat([
    IAC_IP_IAC_DM,
    bytes('ABOR\r\n'),
    IAC_WILL_1,
    bytes('PORT 127,0,0,1,0,22\n'),
    bytes('PORT\r127,0,0,1,0,22\r\n'),
    bytes('AUTH\tTLS\r\n'),
    bytes('STOR a\xff\xffb\n'),
    bytes('\r\n'),
    bytes('RETR '),
    UTF8_NAME,
    bytes('\r\n'),
    bytes('EPRT\f|1|127.0.0.1|22|\n'),
  ]);
  const expected = [
    { verb: 'ABOR', forward: Buffer.concat([IAC_IP_IAC_DM, bytes('ABOR\r\n')]) },
    { verb: 'PORT', forward: Buffer.concat([IAC_WILL_1, bytes('PORT 127,0,0,1,0,22\r\n')]) },
    'cr-in-line',
    { verb: 'AUTH', forward: bytes('AUTH\tTLS\r\n') },
    { verb: 'STOR', forward: bytes('STOR a\xff\xffb\r\n') },
    'empty',
    { verb: 'RETR', forward: Buffer.concat([bytes('RETR '), UTF8_NAME, bytes('\r\n')]) },
    { verb: 'EPRT', forward: bytes('EPRT\f|1|127.0.0.1|22|\r\n') },
  ].map((item) => (typeof item === 'string' ? item : { verb: item.verb, forward: item.forward.toString('hex') }));

  function readAll(chunks: readonly Buffer[]): unknown[] {
    const reader = new LineReader();
    const results: unknown[] = [];
    for (const chunk of chunks) {
      const pushed = reader.push(chunk);
      if (!pushed.ok) throw new Error(pushed.reason);
      for (const line of pushed.lines) {
        const parsed = parseCommand(line);
        results.push(parsed.ok ? { verb: parsed.value.verb, forward: parsed.value.forward.toString('hex') } : parsed.reason);
      }
    }
    return results;
  }

  it('in one chunk', () => {
    expect(readAll([stream])).toEqual(expected);
  });

  it('split once at every offset', () => {
    for (let offset = 0; offset <= stream.length; offset++) {
      expect(readAll([stream.subarray(0, offset), stream.subarray(offset)])).toEqual(expected);
    }
  });

  it('split twice at every pair of offsets', () => {
    for (let first = 0; first <= stream.length; first++) {
      for (let second = first; second <= stream.length; second++) {
        const chunks = [stream.subarray(0, first), stream.subarray(first, second), stream.subarray(second)];
        expect(readAll(chunks)).toEqual(expected);
      }
    }
  });

  it('one byte at a time', () => {
    expect(readAll([...stream].map((byte) => Buffer.from([byte])))).toEqual(expected);
  });

  it('the server reads the forwarded lines, joined, as exactly the commands ftpmasq read', () => {
    const forwarded = Buffer.concat(
      expected.flatMap((item) => (typeof item === 'string' ? [] : [Buffer.from(item.forward, 'hex')])),
    );
    expect(proftpdReadCommands(forwarded).map((read) => (read.kind === 'command' ? read.verb : read.kind))).toEqual(
      expected.flatMap((item) => (typeof item === 'string' ? [] : [item.verb])),
    );
  });
});

describe('argumentText', () => {
  const cases: { title: string; input: Buffer; expected: string }[] = [
    { title: 'a PORT argument', input: bytes('PORT 10,0,0,1,4,1\r\n'), expected: '10,0,0,1,4,1' },
    { title: 'surrounding spaces are trimmed', input: bytes('PORT  10,0,0,1,4,1  \r\n'), expected: '10,0,0,1,4,1' },
    { title: 'TAB, VT and FF are trimmed', input: bytes('PORT\t\v10,0,0,1,4,1\f\t\r\n'), expected: '10,0,0,1,4,1' },
    { title: 'a non-ASCII space is not trimmed', input: bytes('PORT 10,0,0,1,4,1\xa0\r\n'), expected: '10,0,0,1,4,1\xa0' },
    { title: 'an EPRT argument', input: bytes('EPRT |1|132.235.1.2|6275|\r\n'), expected: '|1|132.235.1.2|6275|' },
    { title: 'AUTH TLS', input: bytes('AUTH TLS\r\n'), expected: 'TLS' },
    { title: 'EPSV with a protocol number', input: bytes('EPSV 2\n'), expected: '2' },
    { title: 'no argument', input: bytes('PASV\r\n'), expected: '' },
    { title: 'only spaces', input: bytes('EPSV   \r\n'), expected: '' },
    { title: 'Telnet commands inside the argument are removed', input: bytes('PORT 10,0,\xff\xfb\x010,1,4,1\r\n'), expected: '10,0,0,1,4,1' },
    { title: 'non-ASCII bytes map one-to-one to latin1 characters', input: bytes('CWD \x90\x69\xfe\r\n'), expected: '\x90\x69\xfe' },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    const parsed = parseCommand(input);
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(argumentText(parsed.value)).toBe(expected);
  });
});
