import { describe, expect, it } from 'vitest';
import { parse227, parse229 } from '../../../src/protocol/data-addresses.js';
import { isPreliminary, readReplyCode, ReplyTracker } from '../../../src/protocol/reply-tracker.js';

function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

describe('readReplyCode', () => {
  const cases: { title: string; input: string; expected: number | undefined }[] = [
    { title: 'code, space, text, CRLF', input: '200 Command okay.\r\n', expected: 200 },
    { title: 'code and hyphen (multi-line start)', input: '211-Features:\r\n', expected: 211 },
    { title: 'code directly followed by CRLF', input: '200\r\n', expected: 200 },
    { title: 'code directly followed by bare LF', input: '200\n', expected: 200 },
    { title: 'code alone, no terminator', input: '200', expected: 200 },
    { title: 'code followed by another character', input: '200x\r\n', expected: 200 },
    { title: 'preliminary code', input: '150 Opening data connection.\r\n', expected: 150 },
    { title: 'leading zeros', input: '000 odd\r\n', expected: 0 },
    { title: 'largest three digits', input: '999 odd\r\n', expected: 999 },
    { title: 'four digits is not a reply code', input: '2000 Hello\r\n', expected: undefined },
    { title: 'five digits is not a reply code', input: '22000 Hello\r\n', expected: undefined },
    { title: 'two digits', input: '20 Hello\r\n', expected: undefined },
    { title: 'two digits then CRLF', input: '20\r\n', expected: undefined },
    { title: 'a letter among the digits', input: '2a0 Hello\r\n', expected: undefined },
    { title: 'a leading space', input: ' 200 Hello\r\n', expected: undefined },
    { title: 'text', input: 'Hello\r\n', expected: undefined },
    { title: 'an empty line', input: '\r\n', expected: undefined },
    { title: 'an empty buffer', input: '', expected: undefined },
    { title: 'a negative number', input: '-200 Hello\r\n', expected: undefined },
    { title: 'a non-ASCII byte after the code', input: '200\xff\r\n', expected: 200 },
    { title: 'UTF-8 bytes of a fullwidth digit ２ are not a digit', input: '\xef\xbc\x92\x30\x30 x\r\n', expected: undefined },
    // ProFTPD answers a client's IAC WILL x with IAC DONT x just before the reply.
    { title: 'after IAC DONT 1', input: '\xff\xfe\x01200 NOOP command successful\r\n', expected: 200 },
    { title: 'after IAC WONT 1 and IAC DONT 3', input: '\xff\xfc\x01\xff\xfe\x03227 x\r\n', expected: 227 },
    { title: 'after IAC NOP', input: '\xff\xf1226 done\r\n', expected: 226 },
    { title: 'after IAC IAC (a data byte 0xff) is no code', input: '\xff\xff200 OK\r\n', expected: undefined },
    { title: 'after an incomplete IAC DONT is no code', input: '\xff\xfe', expected: undefined },
    { title: 'four digits after a Telnet prefix is not a reply code', input: '\xff\xfe\x012000 x\r\n', expected: undefined },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    expect(readReplyCode(bytes(input))).toBe(expected);
  });
});

describe('isPreliminary', () => {
  it.each([
    { title: '99', input: 99, expected: false },
    { title: '100', input: 100, expected: true },
    { title: '125', input: 125, expected: true },
    { title: '150', input: 150, expected: true },
    { title: '199', input: 199, expected: true },
    { title: '200', input: 200, expected: false },
    { title: '226', input: 226, expected: false },
    { title: '421', input: 421, expected: false },
    { title: '0', input: 0, expected: false },
  ])('$title', ({ input, expected }) => {
    expect(isPreliminary(input)).toBe(expected);
  });
});

interface Step {
  readonly code: number | undefined;
  readonly first: boolean;
  readonly last: boolean;
  /** inMultiLine after this line. */
  readonly open: boolean;
}

function single(code: number | undefined): Step {
  return { code, first: true, last: true, open: false };
}
function opens(code: number): Step {
  return { code, first: true, last: false, open: true };
}
function continues(code: number): Step {
  return { code, first: false, last: false, open: true };
}
function closes(code: number): Step {
  return { code, first: false, last: true, open: false };
}

describe('ReplyTracker.classify', () => {
  const cases: { title: string; input: string[]; expected: Step[] }[] = [
    { title: 'a single-line reply', input: ['200 Command okay.\r\n'], expected: [single(200)] },
    { title: 'a single-line reply with bare LF', input: ['200 Command okay.\n'], expected: [single(200)] },
    { title: 'a code directly followed by CRLF ("200\\r\\n")', input: ['200\r\n'], expected: [single(200)] },
    { title: 'a code directly followed by bare LF', input: ['200\n'], expected: [single(200)] },
    { title: 'a code alone with no terminator', input: ['200'], expected: [single(200)] },
    { title: 'a code, space and nothing else', input: ['200 \r\n'], expected: [single(200)] },
    {
      title: 'back-to-back single-line replies',
      input: ['150 Opening BINARY mode data connection.\r\n', '226 Transfer complete.\r\n'],
      expected: [single(150), single(226)],
    },
    {
      title: 'RFC 959 multi-line FEAT reply (211- ... 211 End)',
      input: ['211-Features:\r\n', ' MDTM\r\n', ' SIZE\r\n', ' UTF8\r\n', '211 End\r\n'],
      expected: [opens(211), continues(211), continues(211), continues(211), closes(211)],
    },
    {
      title: 'RFC 959 4.2 example: a continuation line starting with another code',
      input: ['123-First line\r\n', 'Second line\r\n', '  234 A line beginning with numbers\r\n', '123 The last line\r\n'],
      expected: [opens(123), continues(123), continues(123), closes(123)],
    },
    {
      title: 'a continuation line starting with another code and a space does not end the reply',
      input: ['230-Welcome\r\n', '220 this is not the end\r\n', '230 Logged in.\r\n'],
      expected: [opens(230), continues(230), closes(230)],
    },
    {
      title: 'continuation lines repeating the code and "-" do not end the reply (IIS-style)',
      input: ['230-Welcome to the server.\r\n', '230-Second line.\r\n', '230-Third line.\r\n', '230 User logged in.\r\n'],
      expected: [opens(230), continues(230), continues(230), closes(230)],
    },
    {
      title: 'the final line may be the bare code followed by CRLF',
      input: ['211-Status\r\n', ' text\r\n', '211\r\n'],
      expected: [opens(211), continues(211), closes(211)],
    },
    {
      title: 'the final line may be the bare code followed by bare LF',
      input: ['211-Status\n', '211\n'],
      expected: [opens(211), closes(211)],
    },
    {
      title: 'the final line may be the bare code with no terminator',
      input: ['211-Status\r\n', '211'],
      expected: [opens(211), closes(211)],
    },
    {
      title: 'the same code followed by a letter does not end the reply',
      input: ['211-Status\r\n', '211x not the end\r\n', '211 End\r\n'],
      expected: [opens(211), continues(211), closes(211)],
    },
    {
      title: 'a four-digit number starting with the code does not end the reply',
      input: ['211-Status\r\n', '2110 not the end\r\n', '211 End\r\n'],
      expected: [opens(211), continues(211), closes(211)],
    },
    {
      title: 'the code indented by a space does not end the reply',
      input: ['211-Status\r\n', ' 211 not the end\r\n', '211 End\r\n'],
      expected: [opens(211), continues(211), closes(211)],
    },
    {
      title: 'empty continuation lines',
      input: ['220-Banner\r\n', '\r\n', '\n', '220 Ready\r\n'],
      expected: [opens(220), continues(220), continues(220), closes(220)],
    },
    {
      title: 'nested-looking text: an inner 212- ... 212 pair is just continuation',
      input: ['211-outer\r\n', '212-inner\r\n', '212 inner end\r\n', '211 outer end\r\n'],
      expected: [opens(211), continues(211), continues(211), closes(211)],
    },
    {
      title: 'an opening line with nothing after the hyphen',
      input: ['211-\r\n', '211 End\r\n'],
      expected: [opens(211), closes(211)],
    },
    {
      title: 'a multi-line reply followed by a single-line reply',
      input: ['230-Hello\r\n', '230 Logged in\r\n', '257 "/" is current directory\r\n'],
      expected: [opens(230), closes(230), single(257)],
    },
    {
      title: 'two multi-line replies in a row',
      input: ['211-a\r\n', '211 end\r\n', '214-b\r\n', ' HELP\r\n', '214 end\r\n'],
      expected: [opens(211), closes(211), opens(214), continues(214), closes(214)],
    },
    {
      title: 'non-ASCII bytes in a continuation line',
      input: ['150-\xe9\x80\xb2\xe6\x8d\x97\r\n', '\x90\x69\x92\xbb\xff\x00\r\n', '150 ok\r\n'],
      expected: [opens(150), continues(150), closes(150)],
    },
    { title: 'a stray text line', input: ['Hello there\r\n'], expected: [single(undefined)] },
    { title: 'a stray empty line', input: ['\r\n'], expected: [single(undefined)] },
    { title: 'a stray two-digit line', input: ['20 short\r\n'], expected: [single(undefined)] },
    { title: 'a stray four-digit number', input: ['2000 Hello\r\n'], expected: [single(undefined)] },
    { title: 'a code followed by a letter outside a reply is stray', input: ['200x\r\n'], expected: [single(undefined)] },
    { title: 'a code followed by a TAB outside a reply is stray', input: ['200\tOK\r\n'], expected: [single(undefined)] },
    {
      title: 'a stray line does not disturb the reply after it',
      input: ['garbage\r\n', '211-a\r\n', 'garbage\r\n', '211 end\r\n', '200 OK\r\n'],
      expected: [single(undefined), opens(211), continues(211), closes(211), single(200)],
    },
    // Regression (hardening issue, reproduced with ProFTPD 1.3.8): `IAC WILL 1` + `NOOP` is answered
    // `IAC DONT 1` + `200 ...`; that line was taken for a stray line, and every later reply was
    // paired with the command before its own.
    {
      title: 'a reply after IAC DONT 1, then the next reply',
      input: ['\xff\xfe\x01200 NOOP command successful\r\n', '227 Entering Passive Mode (10,0,0,1,4,1).\r\n'],
      expected: [single(200), single(227)],
    },
    {
      title: 'a multi-line reply opened after a Telnet prefix',
      input: ['\xff\xfe\x01211-Features:\r\n', ' SIZE\r\n', '211 End\r\n'],
      expected: [opens(211), continues(211), closes(211)],
    },
    {
      title: 'a multi-line reply closed after a Telnet prefix',
      input: ['211-Features:\r\n', ' SIZE\r\n', '\xff\xfe\x01211 End\r\n'],
      expected: [opens(211), continues(211), closes(211)],
    },
    {
      title: 'an unfinished multi-line reply stays open',
      input: ['211-a\r\n', ' b\r\n', '200 another code\r\n'],
      expected: [opens(211), continues(211), continues(211)],
    },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    const tracker = new ReplyTracker();
    const actual = input.map((text) => {
      const line = bytes(text);
      const classified = tracker.classify(line);
      // The line is passed through, not copied: unrewritten lines go out as the same bytes.
      expect(classified.line).toBe(line);
      return { code: classified.code, first: classified.first, last: classified.last, open: tracker.inMultiLine };
    });
    expect(actual).toEqual(expected);
  });

  it('splits a line into its Telnet prefix and the text a 227 or 229 parse reads', () => {
    const tracker = new ReplyTracker();
    const line227 = bytes('\xff\xfe\x01227 Entering Passive Mode (10,0,0,1,4,1).\r\n');
    const reply227 = tracker.classify(line227);
    expect(reply227.telnetPrefix.toString('latin1')).toBe('\xff\xfe\x01');
    expect(reply227.text.toString('latin1')).toBe('227 Entering Passive Mode (10,0,0,1,4,1).\r\n');
    expect(parse227(reply227.text)).toEqual({ ok: true, value: { host: '10.0.0.1', port: 1025 } });
    // Views into the line, not copies.
    expect(reply227.text.buffer).toBe(line227.buffer);
    const reply229 = tracker.classify(bytes('\xff\xfc\x01\xff\xfe\x03229 Entering Extended Passive Mode (|||50000|)\r\n'));
    expect(reply229.code).toBe(229);
    expect(parse229(reply229.text)).toEqual({ ok: true, value: { port: 50000, delimiter: '|' } });
  });

  it('a line without a Telnet prefix has an empty prefix and is its own text', () => {
    const line = bytes('200 OK\r\n');
    const reply = new ReplyTracker().classify(line);
    expect(reply.telnetPrefix.length).toBe(0);
    expect(reply.text.equals(line)).toBe(true);
  });

  it('is not in a multi-line reply when new', () => {
    expect(new ReplyTracker().inMultiLine).toBe(false);
  });

  it('keeps the opening code for every continuation line, even ones that start with other codes', () => {
    const tracker = new ReplyTracker();
    tracker.classify(bytes('226-Transfer\r\n'));
    expect(tracker.classify(bytes('150 looks preliminary\r\n')).code).toBe(226);
    expect(tracker.classify(bytes('421 looks fatal\r\n')).code).toBe(226);
    expect(tracker.classify(bytes('226 done\r\n'))).toMatchObject({ code: 226, last: true });
  });

  it('a very long multi-line reply (10,000 lines) ends only at its own final line', () => {
    const tracker = new ReplyTracker();
    expect(tracker.classify(bytes('211-start\r\n')).last).toBe(false);
    for (let i = 0; i < 10_000; i++) {
      const code = 100 + (i % 900);
      const separator = i % 2 === 0 ? ' ' : '-';
      const result = tracker.classify(bytes(`${code === 211 ? 212 : code}${separator}line ${i}\r\n`));
      expect(result.last).toBe(false);
    }
    expect(tracker.classify(bytes('211 End\r\n')).last).toBe(true);
    expect(tracker.inMultiLine).toBe(false);
  });
});
