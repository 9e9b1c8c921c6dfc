import { describe, expect, it } from 'vitest';
import { decodeTelnet, telnetPrefixLength } from '../../../src/protocol/telnet.js';

function bytes(text: string): Buffer {
  return Buffer.from(text, 'latin1');
}

describe('decodeTelnet (client to server, as ProFTPD reads it)', () => {
  const cases: { title: string; input: string; expected: string | 'incomplete' }[] = [
    { title: 'no IAC: unchanged', input: 'PORT 1,2,3,4,5,6', expected: 'PORT 1,2,3,4,5,6' },
    { title: 'empty', input: '', expected: '' },
    { title: 'IAC WILL x removed', input: '\xff\xfb\x01NOOP', expected: 'NOOP' },
    { title: 'IAC WONT x removed', input: '\xff\xfc\x01NOOP', expected: 'NOOP' },
    { title: 'IAC DO x removed', input: '\xff\xfd\x01NOOP', expected: 'NOOP' },
    { title: 'IAC DONT x removed', input: '\xff\xfe\x01NOOP', expected: 'NOOP' },
    { title: 'the option byte may be IAC', input: '\xff\xfb\xffNOOP', expected: 'NOOP' },
    { title: 'the option byte may be a letter', input: '\xff\xfbANOOP', expected: 'NOOP' },
    { title: 'IAC IP removed', input: '\xff\xf4ABOR', expected: 'ABOR' },
    { title: 'IAC DM removed', input: '\xff\xf2ABOR', expected: 'ABOR' },
    { title: 'IAC IP IAC DM removed', input: '\xff\xf4\xff\xf2ABOR', expected: 'ABOR' },
    { title: 'IAC IAC is one 0xff', input: 'a\xff\xffb', expected: 'a\xffb' },
    { title: 'IAC IAC IAC IAC is two 0xff', input: '\xff\xff\xff\xff', expected: '\xff\xff' },
    { title: 'IAC IAC then WILL: the WILL is data', input: '\xff\xff\xfb\x01', expected: '\xff\xfb\x01' },
    { title: 'IAC NOP kept as data', input: '\xff\xf1x', expected: '\xff\xf1x' },
    { title: 'IAC AYT kept as data', input: '\xff\xf6x', expected: '\xff\xf6x' },
    { title: 'IAC SB kept as data', input: '\xff\xfax', expected: '\xff\xfax' },
    { title: 'IAC and a letter kept as data', input: '\xffA', expected: '\xffA' },
    { title: 'sequences in the middle', input: 'PO\xff\xfb\x01RT', expected: 'PORT' },
    { title: 'sequences at the end', input: 'NOOP\xff\xf4', expected: 'NOOP' },
    { title: 'a negotiation at the very end', input: 'NOOP\xff\xfb\x01', expected: 'NOOP' },
    { title: 'WILL without IAC is data', input: '\xfb\x01', expected: '\xfb\x01' },
    { title: 'a lone IAC at the end', input: 'NOOP\xff', expected: 'incomplete' },
    { title: 'IAC WILL at the end', input: 'NOOP\xff\xfb', expected: 'incomplete' },
    { title: 'IAC DONT at the end', input: '\xff\xfe', expected: 'incomplete' },
    { title: 'IAC IAC IAC at the end', input: '\xff\xff\xff', expected: 'incomplete' },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    const result = decodeTelnet(bytes(input));
    if (expected === 'incomplete') expect(result).toEqual({ ok: false, reason: 'incomplete-telnet' });
    else expect(result.ok && result.bytes.toString('latin1')).toBe(expected);
  });

  it('returns the input itself when it holds no IAC', () => {
    const input = bytes('STOR a');
    const result = decodeTelnet(input);
    expect(result.ok && result.bytes).toBe(input);
  });
});

describe('telnetPrefixLength (server to client, before a reply code)', () => {
  const cases: { title: string; input: string; expected: number }[] = [
    { title: 'a plain reply', input: '200 OK\r\n', expected: 0 },
    { title: 'empty', input: '', expected: 0 },
    { title: 'IAC DONT 1 (ProFTPD answering IAC WILL 1)', input: '\xff\xfe\x01200 OK\r\n', expected: 3 },
    { title: 'IAC WONT 1', input: '\xff\xfc\x01200 OK\r\n', expected: 3 },
    { title: 'IAC WILL 1 and IAC DO 3', input: '\xff\xfb\x01\xff\xfd\x03227 x\r\n', expected: 6 },
    { title: 'IAC DONT with 0xff as the option', input: '\xff\xfe\xff200 OK\r\n', expected: 3 },
    { title: 'IAC NOP', input: '\xff\xf1200 OK\r\n', expected: 2 },
    { title: 'IAC GA', input: '\xff\xf9200 OK\r\n', expected: 2 },
    { title: 'IAC SE', input: '\xff\xf0200 OK\r\n', expected: 2 },
    { title: 'IAC IAC is data: no prefix', input: '\xff\xff200 OK\r\n', expected: 0 },
    { title: 'IAC SB starts a subnegotiation: not skipped', input: '\xff\xfa\x18200 OK\r\n', expected: 0 },
    { title: 'IAC and a byte below SE is not a command', input: '\xff\x32\x30\x30 OK\r\n', expected: 0 },
    { title: 'a lone IAC', input: '\xff', expected: 0 },
    { title: 'IAC DONT without its option', input: '\xff\xfe', expected: 0 },
    { title: 'a complete sequence, then an incomplete one', input: '\xff\xfe\x01\xff\xfe', expected: 3 },
    { title: 'only the start of the line counts', input: '200 \xff\xfe\x01OK\r\n', expected: 0 },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    expect(telnetPrefixLength(bytes(input))).toBe(expected);
  });
});
