import { describe, expect, it } from 'vitest';
import { argumentText, parseCommand } from '../../../src/protocol/command.js';

function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

const UTF8_NAME = Buffer.from('進捗どうですか.jpg', 'utf8');
/** 進捗.txt in Shift_JIS; 0x69 is ASCII 'i' and must not be touched (no decoding, no case change). */
const SJIS_NAME = Buffer.from([0x90, 0x69, 0x92, 0xbb, 0x2e, 0x74, 0x78, 0x74]);
/** 表 in Shift_JIS: the trail byte is 0x5c, ASCII '\'. */
const SJIS_BACKSLASH = Buffer.from([0x95, 0x5c]);
/** RFC 959 4.1.3 / RFC 854: Telnet IAC IP, then IAC DM (Synch), sent before ABOR. */
const IAC_IP_IAC_DM = Buffer.from([0xff, 0xf4, 0xff, 0xf2]);

describe('parseCommand', () => {
  const cases: { title: string; input: Buffer; expected: { verb: string; argument: Buffer } }[] = [
    { title: 'verb and argument, CRLF', input: bytes('USER anonymous\r\n'), expected: { verb: 'USER', argument: bytes('anonymous') } },
    { title: 'verb and argument, bare LF', input: bytes('USER anonymous\n'), expected: { verb: 'USER', argument: bytes('anonymous') } },
    { title: 'verb and argument, no terminator', input: bytes('USER anonymous'), expected: { verb: 'USER', argument: bytes('anonymous') } },
    { title: 'lower-case verb', input: bytes('user anonymous\r\n'), expected: { verb: 'USER', argument: bytes('anonymous') } },
    { title: 'mixed-case verb', input: bytes('pAsV\r\n'), expected: { verb: 'PASV', argument: Buffer.alloc(0) } },
    { title: 'the argument keeps its case', input: bytes('user AnonyMous\r\n'), expected: { verb: 'USER', argument: bytes('AnonyMous') } },
    { title: 'no argument, CRLF', input: bytes('PASV\r\n'), expected: { verb: 'PASV', argument: Buffer.alloc(0) } },
    { title: 'no argument, bare LF', input: bytes('PASV\n'), expected: { verb: 'PASV', argument: Buffer.alloc(0) } },
    { title: 'no argument, no terminator', input: bytes('QUIT'), expected: { verb: 'QUIT', argument: Buffer.alloc(0) } },
    { title: 'a trailing space gives an empty argument', input: bytes('NOOP \r\n'), expected: { verb: 'NOOP', argument: Buffer.alloc(0) } },
    { title: 'an argument with spaces', input: bytes('STOR my holiday photo.jpg\r\n'), expected: { verb: 'STOR', argument: bytes('my holiday photo.jpg') } },
    { title: 'a second space is part of the argument', input: bytes('STOR  leading.txt\r\n'), expected: { verb: 'STOR', argument: bytes(' leading.txt') } },
    { title: 'trailing spaces are part of the argument', input: bytes('STOR trailing  \r\n'), expected: { verb: 'STOR', argument: bytes('trailing  ') } },
    { title: 'a PORT argument', input: bytes('PORT 10,0,0,1,4,1\r\n'), expected: { verb: 'PORT', argument: bytes('10,0,0,1,4,1') } },
    { title: 'an EPRT argument with IPv6', input: bytes('EPRT |2|1080::8:800:200C:417A|5282|\r\n'), expected: { verb: 'EPRT', argument: bytes('|2|1080::8:800:200C:417A|5282|') } },
    { title: 'an EPSV ALL argument', input: bytes('epsv ALL\r\n'), expected: { verb: 'EPSV', argument: bytes('ALL') } },
    { title: 'a UTF-8 argument, bytes kept', input: Buffer.concat([bytes('RETR '), UTF8_NAME, bytes('\r\n')]), expected: { verb: 'RETR', argument: UTF8_NAME } },
    { title: 'a Shift_JIS argument, bytes kept', input: Buffer.concat([bytes('STOR '), SJIS_NAME, bytes('\r\n')]), expected: { verb: 'STOR', argument: SJIS_NAME } },
    { title: "a Shift_JIS argument whose trail byte is '\\'", input: Buffer.concat([bytes('CWD '), SJIS_BACKSLASH, bytes('\r\n')]), expected: { verb: 'CWD', argument: SJIS_BACKSLASH } },
    { title: '0xff bytes inside the argument are not Telnet commands', input: bytes('RETR \xff\xf4\xff\xf2x\r\n'), expected: { verb: 'RETR', argument: bytes('\xff\xf4\xff\xf2x') } },
    { title: 'a NUL byte inside the argument', input: bytes('RETR a\x00b\r\n'), expected: { verb: 'RETR', argument: bytes('a\x00b') } },
    { title: 'a CR inside the argument', input: bytes('RETR a\rb\r\n'), expected: { verb: 'RETR', argument: bytes('a\rb') } },
    { title: 'Telnet IAC IP IAC DM before ABOR (RFC 959 4.1.3)', input: Buffer.concat([IAC_IP_IAC_DM, bytes('ABOR\r\n')]), expected: { verb: 'ABOR', argument: Buffer.alloc(0) } },
    { title: 'IAC IP IAC DM before lower-case abor, bare LF', input: Buffer.concat([IAC_IP_IAC_DM, bytes('abor\n')]), expected: { verb: 'ABOR', argument: Buffer.alloc(0) } },
    { title: 'IAC IP alone before ABOR', input: Buffer.concat([Buffer.from([0xff, 0xf4]), bytes('ABOR\r\n')]), expected: { verb: 'ABOR', argument: Buffer.alloc(0) } },
    { title: 'a lone DM (IAC read separately as urgent data) before ABOR', input: Buffer.concat([Buffer.from([0xf2]), bytes('ABOR\r\n')]), expected: { verb: 'ABOR', argument: Buffer.alloc(0) } },
    { title: 'IAC IP IAC DM before STAT', input: Buffer.concat([IAC_IP_IAC_DM, bytes('STAT\r\n')]), expected: { verb: 'STAT', argument: Buffer.alloc(0) } },
    { title: 'only Telnet bytes', input: Buffer.concat([IAC_IP_IAC_DM, bytes('\r\n')]), expected: { verb: '', argument: Buffer.alloc(0) } },
    { title: 'a lone IAC at the end', input: bytes('\xff'), expected: { verb: '', argument: Buffer.alloc(0) } },
    { title: 'an empty CRLF line', input: bytes('\r\n'), expected: { verb: '', argument: Buffer.alloc(0) } },
    { title: 'an empty bare LF line', input: bytes('\n'), expected: { verb: '', argument: Buffer.alloc(0) } },
    { title: 'an empty buffer', input: Buffer.alloc(0), expected: { verb: '', argument: Buffer.alloc(0) } },
    { title: 'a leading space gives an empty verb', input: bytes(' USER x\r\n'), expected: { verb: '', argument: bytes('USER x') } },
    // RFC 959 5.3.1: <SP> alone separates verb and argument.
    { title: 'a TAB does not separate verb and argument', input: bytes('USER\tx\r\n'), expected: { verb: 'USER\tX', argument: Buffer.alloc(0) } },
    { title: 'a verb of 16 bytes is kept whole', input: bytes('ABCDEFGHIJKLMNOP x\r\n'), expected: { verb: 'ABCDEFGHIJKLMNOP', argument: bytes('x') } },
    { title: 'a verb longer than 16 bytes is cut to 16', input: bytes('abcdefghijklmnopqrstuvwxyz x\r\n'), expected: { verb: 'ABCDEFGHIJKLMNOP', argument: bytes('x') } },
    { title: 'an overlong verb with no argument is cut to 16', input: bytes('A'.repeat(100)), expected: { verb: 'A'.repeat(16), argument: Buffer.alloc(0) } },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    const command = parseCommand(input);
    expect(command.verb).toBe(expected.verb);
    expect(command.argument.toString('hex')).toBe(expected.argument.toString('hex'));
    // The line is kept as it came, Telnet bytes and terminator included, to be forwarded unchanged.
    expect(command.line).toBe(input);
  });

  it('the argument is a view into the line, not a decoded copy', () => {
    const line = Buffer.concat([bytes('STOR '), SJIS_NAME, bytes('\r\n')]);
    const { argument } = parseCommand(line);
    expect(argument.buffer).toBe(line.buffer);
    expect(argument.byteOffset).toBe(line.byteOffset + 5);
  });

  // Regression (found by the unit tier, fixed): the verb is upper-cased with String.prototype.toUpperCase on a latin1
  // decoding, and latin1 0xdf 'ß' upper-cases to the two ASCII letters "SS". So the bytes "PA\xdf"
  // parse as the verb PASS, which the client never sent; upstream sees PA\xdf and answers 500.
  // Upper-casing only a-z would keep the verb a faithful reading of the bytes.
  it('non-ASCII verb bytes never upper-case into an ASCII verb ("PA\\xdf" is not PASS)', () => {
    const command = parseCommand(bytes('PA\xdf secret\r\n'));
    expect(command.verb).not.toBe('PASS');
    expect(command.verb).toHaveLength(3);
  });
});

describe('argumentText', () => {
  const cases: { title: string; input: Buffer; expected: string }[] = [
    { title: 'a PORT argument', input: bytes('PORT 10,0,0,1,4,1\r\n'), expected: '10,0,0,1,4,1' },
    { title: 'surrounding spaces are trimmed', input: bytes('PORT  10,0,0,1,4,1  \r\n'), expected: '10,0,0,1,4,1' },
    { title: 'an EPRT argument', input: bytes('EPRT |1|132.235.1.2|6275|\r\n'), expected: '|1|132.235.1.2|6275|' },
    { title: 'AUTH TLS', input: bytes('AUTH TLS\r\n'), expected: 'TLS' },
    { title: 'EPSV with a protocol number', input: bytes('EPSV 2\n'), expected: '2' },
    { title: 'no argument', input: bytes('PASV\r\n'), expected: '' },
    { title: 'only spaces', input: bytes('EPSV   \r\n'), expected: '' },
    { title: 'non-ASCII bytes map one-to-one to latin1 characters', input: bytes('CWD \x90\x69\xff\r\n'), expected: '\x90\x69\xff' },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    expect(argumentText(parseCommand(input))).toBe(expected);
  });
});
