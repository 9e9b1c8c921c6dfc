/**
 * Properties of ftpmasq's command framing against a reference model of the server's
 * (./support/proftpd-framing.ts): whatever a client sends, ftpmasq either reads the command the
 * server will execute, or refuses the line. Generated inputs lean on the bytes that matter:
 * separators, CR, LF, NUL, Telnet commands, quotes, and the verbs ftpmasq checks.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../src/protocol/command.js';
import { LineReader, stripLineEnding } from '../../../src/protocol/line-reader.js';
import { readReplyCode, ReplyTracker } from '../../../src/protocol/reply-tracker.js';
import { decodeTelnet, telnetPrefixLength } from '../../../src/protocol/telnet.js';
import { proftpdReadCommands, type ServerRead } from './support/proftpd-framing.js';

function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

const TOKENS = [
  'PORT', 'EPRT', 'AUTH', 'PASV', 'EPSV', 'RETR', 'NOOP', 'USER', 'port', 'Port', 'P', 'ORT', 'TLS', 'ALL',
  ' ', ' ', ' ', '\t', '\v', '\f', '\r', '\n', '\r\n', '\0', '"', '\\', '#',
  '127,0,0,1,0,22', '|1|127.0.0.1|22|', '10,0,0,1,4,1',
  '\xff', '\xfb', '\xfc', '\xfd', '\xfe', '\xf4', '\xf2', '\xf1', '\xfa', '\xf0',
  '\xff\xff', '\xff\xfb\x01', '\xff\xfd\x03', '\xff\xf4\xff\xf2', '\xff\xfb', '\xff\xfe\r', '\xa0', '\xdf',
].map(bytes);
const NAMES = [Buffer.from('進捗どうですか.jpg', 'utf8'), Buffer.from([0x90, 0x69, 0x92, 0xbb, 0x2e, 0x74, 0x78, 0x74]), Buffer.from([0x95, 0x5c])];
const TERMINATORS = ['\r\n', '\r\n', '\n', '', '\r\r\n', '\n\r\n'].map(bytes);

const anyByte = fc.integer({ min: 0, max: 255 }).map((byte) => Buffer.from([byte]));
const token = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...TOKENS) },
  { weight: 1, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 2, arbitrary: anyByte },
);
const TELNET = ['\xff\xfb\x01', '\xff\xfc\x01', '\xff\xfd\x03', '\xff\xfe\x03', '\xff\xf4', '\xff\xf2', '\xff\xff', '\xff\xf1', '\xff\xfb'].map(bytes);
const VERBS = ['PORT', 'EPRT', 'AUTH', 'EPSV', 'PASV', 'RETR', 'STOR', 'NOOP', 'LPRT', 'X'];
/** Any mix of tokens, with no requirement to be well formed. */
const looseBody = fc.array(token, { maxLength: 8 }).map((parts) => Buffer.concat(parts));
/** Shaped like a command (Telnet, a verb in any case, a separator, an argument), most of them read. */
const commandBody = fc
  .tuple(
    fc.array(fc.constantFrom(...TELNET), { maxLength: 2 }),
    fc.constantFrom(...VERBS),
    fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    fc.constantFrom(...[' ', ' ', '\t', '\v', '\f', '', '\r', '\0', '"', '\xa0'].map(bytes)),
    fc.array(token, { maxLength: 4 }),
  )
  .map(([telnet, verb, upper, separator, argument]) => {
    const cased = [...verb].map((letter, i) => (upper[i % upper.length] === true ? letter : letter.toLowerCase())).join('');
    return Buffer.concat([...telnet, bytes(cased), separator, ...argument]);
  });
const body = fc.oneof(looseBody, commandBody);
/** A line as the client might send it: a body and one of the terminators (or none). */
const line = fc.tuple(body, fc.constantFrom(...TERMINATORS)).map(([text, end]) => Buffer.concat([text, end]));
/** What a LineReader hands the session: a body without LF, ended by CRLF or LF (or nothing, at EOF). */
const FRAMED_TERMINATORS = ['\r\n', '\r\n', '\n', '', '\r\r\n'].map(bytes);
const framedLine = fc
  .tuple(body, fc.constantFrom(...FRAMED_TERMINATORS))
  .map(([text, end]) => Buffer.concat([Buffer.from(text.filter((byte) => byte !== 0x0a)), end]));

function commandOf(read: ServerRead | undefined): { verb: string; argument: string } | string | undefined {
  if (read === undefined) return undefined;
  return read.kind === 'command' ? { verb: read.verb, argument: read.argument.toString('hex') } : read.kind;
}

describe('command framing properties', () => {
  it('(a) when ftpmasq reads verb V from a line, the server reads the forwarded bytes as V, with the same argument', () => {
    fc.assert(
      fc.property(framedLine, (input) => {
        const parsed = parseCommand(input);
        if (!parsed.ok) return;
        const reads = proftpdReadCommands(parsed.value.forward);
        expect(reads.map(commandOf)).toEqual([{ verb: parsed.value.verb, argument: parsed.value.argument.toString('hex') }]);
      }),
      { numRuns: 8000 },
    );
  });

  it('(a) holds for lines not framed by a LineReader too (an LF inside is refused)', () => {
    fc.assert(
      fc.property(line, (input) => {
        const parsed = parseCommand(input);
        if (!parsed.ok) return;
        expect(proftpdReadCommands(parsed.value.forward).map(commandOf)).toEqual([
          { verb: parsed.value.verb, argument: parsed.value.argument.toString('hex') },
        ]);
      }),
      { numRuns: 4000 },
    );
  });

  it('(a) the same property finds the bug in the old parser (verb up to the first space, Telnet prefix skipped)', () => {
    // The parser the issue is about, kept here as the counter-example the property must catch.
    const verbAsBefore = (input: Buffer): string => {
      const text = stripLineEnding(input);
      let start = 0;
      while (text[start] === 0xff) start += 2;
      const space = text.indexOf(0x20, start);
      return text.toString('latin1', Math.min(start, text.length), space === -1 ? text.length : space).toUpperCase();
    };
    const result = fc.check(
      fc.property(framedLine, (input) => {
        const reads = proftpdReadCommands(Buffer.concat([stripLineEnding(input), bytes('\r\n')]));
        const read = reads[0];
        return reads.length !== 1 || read?.kind !== 'command' || read.verb === verbAsBefore(input);
      }),
      { numRuns: 4000, seed: 1 },
    );
    expect(result.failed).toBe(true);
  });

  it('(a) a stream split into lines by the LineReader at any chunk boundary: the server reads exactly the lines ftpmasq read, in order', () => {
    const stream = fc.array(line, { minLength: 1, maxLength: 6 }).map((lines) => Buffer.concat(lines));
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 4 }), (input, cuts) => {
        const reader = new LineReader();
        const offsets = [...new Set(cuts.map((cut) => cut % (input.length + 1)))].sort((a, b) => a - b);
        const forwarded: Buffer[] = [];
        const expected: ReturnType<typeof commandOf>[] = [];
        let start = 0;
        for (const end of [...offsets, input.length]) {
          const result = reader.push(input.subarray(start, end));
          start = end;
          for (const framed of result.lines) {
            const parsed = parseCommand(framed);
            if (!parsed.ok) continue;
            forwarded.push(parsed.value.forward);
            expected.push({ verb: parsed.value.verb, argument: parsed.value.argument.toString('hex') });
          }
        }
        expect(proftpdReadCommands(Buffer.concat(forwarded)).map(commandOf)).toEqual(expected);
      }),
      { numRuns: 3000 },
    );
  });

  it('(b) forwarding never changes a byte of the line: only the terminator becomes CRLF', () => {
    fc.assert(
      fc.property(framedLine, (input) => {
        const parsed = parseCommand(input);
        if (!parsed.ok) return;
        const { forward } = parsed.value;
        expect(forward.subarray(-2).toString('latin1')).toBe('\r\n');
        expect(forward.subarray(0, -2).equals(stripLineEnding(input))).toBe(true);
        // The argument the server reads is the forwarded argument bytes, Telnet-decoded.
        const decoded = decodeTelnet(forward.subarray(0, -2));
        if (!decoded.ok) throw new Error(decoded.reason);
        const { argument } = parsed.value;
        expect(decoded.bytes.subarray(decoded.bytes.length - argument.length).equals(argument)).toBe(true);
      }),
      { numRuns: 4000 },
    );
  });

  it('(b) any path bytes after a verb and a space are forwarded unchanged (no decoding, no case change)', () => {
    const path = fc.uint8Array({ maxLength: 64 }).map((array) => Buffer.from(array.filter((byte) => byte !== 0x0a && byte !== 0x0d && byte !== 0x00 && byte !== 0xff)));
    fc.assert(
      fc.property(fc.constantFrom('RETR', 'stor', 'Cwd', 'MKD'), path, fc.constantFrom('\r\n', '\n'), (verb, name, end) => {
        const input = Buffer.concat([bytes(`${verb} `), name, bytes(end)]);
        const parsed = parseCommand(input);
        if (!parsed.ok) throw new Error(parsed.reason);
        expect(parsed.value.argument.equals(name)).toBe(true);
        expect(parsed.value.forward.equals(Buffer.concat([bytes(`${verb} `), name, bytes('\r\n')]))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('(c) no exception on any input', () => {
    fc.assert(
      fc.property(fc.oneof(line, fc.uint8Array({ maxLength: 200 }).map((array) => Buffer.from(array))), (input) => {
        const parsed = parseCommand(input);
        expect(typeof parsed.ok).toBe('boolean');
        telnetPrefixLength(input);
        decodeTelnet(input);
        readReplyCode(input);
        const tracker = new ReplyTracker();
        tracker.classify(input);
        tracker.classify(input);
      }),
      { numRuns: 4000 },
    );
  });
});

describe('reply framing properties', () => {
  const prefix = fc
    .array(fc.constantFrom('\xff\xfe\x01', '\xff\xfc\x01', '\xff\xfb\xff', '\xff\xfd\x18', '\xff\xf1', '\xff\xf9'), { minLength: 1, maxLength: 3 })
    .map((parts) => bytes(parts.join('')));
  const replyLines = fc.array(
    fc.constantFrom('200 OK\r\n', '227 Entering Passive Mode (10,0,0,1,4,1).\r\n', '211-Features:\r\n', ' SIZE\r\n', '211 End\r\n', '150 Opening\n', 'garbage\r\n', '226\r\n').map(bytes),
    { minLength: 1, maxLength: 8 },
  );

  it('a Telnet prefix on any line changes nothing but the prefix itself', () => {
    fc.assert(
      fc.property(replyLines, fc.nat(), prefix, (lines, which, telnet) => {
        const index = which % lines.length;
        const plain = new ReplyTracker();
        const prefixed = new ReplyTracker();
        lines.forEach((text, i) => {
          const withPrefix = i === index ? Buffer.concat([telnet, text]) : text;
          const a = plain.classify(text);
          const b = prefixed.classify(withPrefix);
          expect({ code: b.code, first: b.first, last: b.last }).toEqual({ code: a.code, first: a.first, last: a.last });
          expect(b.text.equals(text)).toBe(true);
          expect(b.telnetPrefix.equals(i === index ? telnet : Buffer.alloc(0))).toBe(true);
        });
      }),
      { numRuns: 2000 },
    );
  });
});
