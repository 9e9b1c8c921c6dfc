import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_V2_PAYLOAD,
  V1_MAX_BYTES,
  V2_SIGNATURE,
  classifyFirstBytes,
  formatProxyHeader,
  formatProxyHeaderV1,
  formatProxyHeaderV2,
  parseProxyHeader,
  type ProxyHeaderParse,
} from '../../../src/protocol/proxy-header.js';

const latin1 = (text: string): Buffer => Buffer.from(text, 'latin1');

/** A v2 header from its parts: version/command byte, family byte, the block after the 16 bytes. */
function v2(versionCommand: number, family: number, block: readonly number[], announced = block.length): Buffer {
  const fixed = Buffer.alloc(4);
  fixed.writeUInt8(versionCommand, 0);
  fixed.writeUInt8(family, 1);
  fixed.writeUInt16BE(announced, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, Buffer.from(block)]);
}

const TCP4_BLOCK = [203, 0, 113, 7, 192, 0, 2, 10, 0xc3, 0x50, 0x00, 0x15]; // 203.0.113.7:50000 -> 192.0.2.10:21
const TCP6_BLOCK = [
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07],
  ...[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a],
  0xc3, 0x50, 0x00, 0x15,
];
const MAPPED_BLOCK = [...[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 9], ...[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10], 0x04, 0x00, 0x00, 0x15];
/** A TLV of type 0x04 (NOOP) and an AWS-style TLV 0xEA: both skipped unread. */
const TLVS = [0x04, 0x00, 0x03, 1, 2, 3, 0xea, 0x00, 0x05, 0x01, 0x76, 0x70, 0x63, 0x65];

const ok = (version: 1 | 2, consumed: number, source?: string, sourcePort?: number, destination?: string, destinationPort?: number): ProxyHeaderParse => ({
  kind: 'ok',
  consumed,
  header: {
    version,
    addresses:
      source === undefined
        ? undefined
        : { source: { host: source, port: sourcePort ?? 0 }, destination: { host: destination ?? '', port: destinationPort ?? 0 } },
  },
});

interface Case {
  readonly title: string;
  readonly input: Buffer;
  readonly expected: ProxyHeaderParse | 'error' | 'need-more';
}

const V1_TCP4 = 'PROXY TCP4 203.0.113.7 192.0.2.10 50000 21\r\n';
const V1_UNKNOWN_LONGEST = `PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n`;

const CASES: readonly Case[] = [
  { title: 'v1 TCP4', input: latin1(V1_TCP4), expected: ok(1, V1_TCP4.length, '203.0.113.7', 50000, '192.0.2.10', 21) },
  { title: 'v1 TCP4 followed by FTP bytes: only the header is consumed', input: latin1(`${V1_TCP4}USER a\r\n`), expected: ok(1, V1_TCP4.length, '203.0.113.7', 50000, '192.0.2.10', 21) },
  {
    title: 'v1 TCP6',
    input: latin1('PROXY TCP6 2001:db8::7 2001:db8::a 50000 21\r\n'),
    expected: ok(1, 45, '2001:db8::7', 50000, '2001:db8::a', 21),
  },
  { title: 'v1 TCP6 with an IPv4-mapped client: normalized to IPv4', input: latin1('PROXY TCP6 ::ffff:198.51.100.9 ::1 1024 21\r\n'), expected: ok(1, 44, '198.51.100.9', 1024, '::1', 21) },
  { title: 'v1 UNKNOWN: the connection\'s own addresses', input: latin1('PROXY UNKNOWN\r\n'), expected: ok(1, 15) },
  { title: 'v1 UNKNOWN with the rest of the line ignored', input: latin1(V1_UNKNOWN_LONGEST), expected: ok(1, V1_UNKNOWN_LONGEST.length) },
  { title: 'v1 ports 0 and 65535', input: latin1('PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n'), expected: ok(1, 36, '1.2.3.4', 0, '5.6.7.8', 65535) },
  { title: 'v1 port above 65535', input: latin1('PROXY TCP4 1.2.3.4 5.6.7.8 65536 21\r\n'), expected: 'error' },
  { title: 'v1 port with a leading zero', input: latin1('PROXY TCP4 1.2.3.4 5.6.7.8 021 21\r\n'), expected: 'error' },
  { title: 'v1 port with a sign', input: latin1('PROXY TCP4 1.2.3.4 5.6.7.8 +21 21\r\n'), expected: 'error' },
  { title: 'v1 TCP4 naming an IPv6 address', input: latin1('PROXY TCP4 ::1 ::1 1 2\r\n'), expected: 'error' },
  { title: 'v1 TCP6 naming an IPv4 address', input: latin1('PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n'), expected: 'error' },
  { title: 'v1 IPv4 in a short form', input: latin1('PROXY TCP4 127.1 5.6.7.8 1 2\r\n'), expected: 'error' },
  { title: 'v1 a host name', input: latin1('PROXY TCP4 example.com 5.6.7.8 1 2\r\n'), expected: 'error' },
  { title: 'v1 two spaces', input: latin1('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'), expected: 'error' },
  { title: 'v1 a field missing', input: latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), expected: 'error' },
  { title: 'v1 a field too many', input: latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n'), expected: 'error' },
  { title: 'v1 UDP4 is no protocol of v1', input: latin1('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), expected: 'error' },
  { title: 'v1 lower-case protocol', input: latin1('PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n'), expected: 'error' },
  { title: 'v1 bare LF', input: latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), expected: 'error' },
  { title: 'v1 a NUL inside', input: latin1('PROXY TCP4 1.2.3.4\x005.6.7.8 1 2\r\n'), expected: 'error' },
  { title: 'v1 a tab inside', input: latin1('PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n'), expected: 'error' },
  { title: 'v1 exactly 107 bytes', input: latin1(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_BYTES - 16)}\r\n`), expected: ok(1, V1_MAX_BYTES) },
  { title: 'v1 108 bytes: over the bound', input: latin1(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_BYTES - 15)}\r\n`), expected: 'error' },
  { title: 'v1 107 bytes without a line end', input: latin1(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_BYTES)}`), expected: 'error' },
  { title: 'v1 unfinished', input: latin1('PROXY TCP4 1.2.3.4'), expected: 'need-more' },
  { title: 'v1 prefix only', input: latin1('PRO'), expected: 'need-more' },
  { title: 'empty', input: Buffer.alloc(0), expected: 'need-more' },
  { title: 'an FTP command', input: latin1('USER anonymous\r\n'), expected: 'error' },
  { title: 'a TLS ClientHello', input: Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5]), expected: 'error' },
  { title: '"PROXY" without its space', input: latin1('PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n'), expected: 'error' },
  { title: 'v2 PROXY TCP4', input: v2(0x21, 0x11, TCP4_BLOCK), expected: ok(2, 28, '203.0.113.7', 50000, '192.0.2.10', 21) },
  { title: 'v2 PROXY TCP6', input: v2(0x21, 0x21, TCP6_BLOCK), expected: ok(2, 52, '2001:db8::7', 50000, '2001:db8::a', 21) },
  { title: 'v2 PROXY TCP6 IPv4-mapped: normalized', input: v2(0x21, 0x21, MAPPED_BLOCK), expected: ok(2, 52, '198.51.100.9', 1024, '192.0.2.10', 21) },
  { title: 'v2 TLVs after the addresses are skipped', input: v2(0x21, 0x11, [...TCP4_BLOCK, ...TLVS]), expected: ok(2, 28 + TLVS.length, '203.0.113.7', 50000, '192.0.2.10', 21) },
  { title: 'v2 malformed TLV bytes are skipped too (never parsed)', input: v2(0x21, 0x11, [...TCP4_BLOCK, 0xff, 0xff, 0xff]), expected: ok(2, 31, '203.0.113.7', 50000, '192.0.2.10', 21) },
  { title: 'v2 followed by FTP bytes', input: Buffer.concat([v2(0x21, 0x11, TCP4_BLOCK), latin1('USER a\r\n')]), expected: ok(2, 28, '203.0.113.7', 50000, '192.0.2.10', 21) },
  { title: 'v2 LOCAL (a health check): no addresses, block ignored', input: v2(0x20, 0x11, TCP4_BLOCK), expected: ok(2, 28) },
  { title: 'v2 LOCAL with an empty block', input: v2(0x20, 0x00, []), expected: ok(2, 16) },
  { title: 'v2 LOCAL with an unknown family: ignored', input: v2(0x20, 0x77, []), expected: ok(2, 16) },
  { title: 'v2 PROXY UNSPEC', input: v2(0x21, 0x00, []), expected: ok(2, 16) },
  { title: 'v2 PROXY UDP4: no TCP client named', input: v2(0x21, 0x12, TCP4_BLOCK), expected: ok(2, 28) },
  { title: 'v2 PROXY UNIX stream', input: v2(0x21, 0x31, new Array<number>(216).fill(0)), expected: ok(2, 232) },
  { title: 'v2 unknown family', input: v2(0x21, 0x41, TCP4_BLOCK), expected: 'error' },
  { title: 'v2 TCP4 block too short', input: v2(0x21, 0x11, TCP4_BLOCK.slice(0, 11)), expected: 'error' },
  { title: 'v2 TCP6 block too short', input: v2(0x21, 0x21, TCP4_BLOCK), expected: 'error' },
  { title: 'v2 version 1 in the version nibble', input: v2(0x11, 0x11, TCP4_BLOCK), expected: 'error' },
  { title: 'v2 version 3', input: v2(0x31, 0x11, TCP4_BLOCK), expected: 'error' },
  { title: 'v2 command 2', input: v2(0x22, 0x11, TCP4_BLOCK), expected: 'error' },
  { title: 'v2 length at the bound', input: v2(0x21, 0x11, [...TCP4_BLOCK, ...new Array<number>(MAX_V2_PAYLOAD - 12).fill(0)]), expected: ok(2, 16 + MAX_V2_PAYLOAD, '203.0.113.7', 50000, '192.0.2.10', 21) },
  { title: 'v2 length over the bound: refused before the bytes arrive', input: v2(0x21, 0x11, TCP4_BLOCK, MAX_V2_PAYLOAD + 1), expected: 'error' },
  { title: 'v2 length 65535', input: v2(0x21, 0x11, [], 0xffff), expected: 'error' },
  { title: 'v2 announced more than sent', input: v2(0x21, 0x11, TCP4_BLOCK, 20), expected: 'need-more' },
  { title: 'v2 signature only', input: V2_SIGNATURE, expected: 'need-more' },
  { title: 'v2 signature and a wrong version byte: refused at once', input: Buffer.concat([V2_SIGNATURE, Buffer.from([0x10])]), expected: 'error' },
  { title: 'v2 signature with a wrong last byte', input: Buffer.concat([V2_SIGNATURE.subarray(0, 11), Buffer.from([0x0d])]), expected: 'error' },
  { title: 'CRLF alone: a prefix of the v2 signature', input: latin1('\r\n'), expected: 'need-more' },
];

function kindOf(result: ProxyHeaderParse): ProxyHeaderParse | 'error' | 'need-more' {
  return result.kind === 'ok' ? result : result.kind;
}

describe('parseProxyHeader', () => {
  for (const { title, input, expected } of CASES) {
    it(title, () => {
      expect(kindOf(parseProxyHeader(input))).toEqual(expected);
    });
  }

  it('every error names its reason', () => {
    for (const { input, expected } of CASES) {
      const result = parseProxyHeader(input);
      if (expected === 'error') expect(result.kind === 'error' && result.reason.length > 10).toBe(true);
    }
  });

  it('at every split of every case, each prefix is need-more (or the same error) and the whole gives the same answer', () => {
    for (const { title, input } of CASES) {
      const whole = parseProxyHeader(input);
      const firstDecided = whole.kind === 'ok' ? whole.consumed : input.length;
      for (let cut = 0; cut < firstDecided; cut++) {
        const prefix = parseProxyHeader(input.subarray(0, cut));
        // A prefix never succeeds with a different header, and fails only if the whole fails.
        if (prefix.kind === 'ok') throw new Error(`${title}: prefix of ${cut} bytes parsed as a header`);
        if (prefix.kind === 'error') expect(whole.kind, `${title} at ${cut}`).toBe('error');
      }
    }
  });

  it('a header with any trailing bytes parses the same, consuming only itself (fast-check, every split)', () => {
    const endpoint4 = fc.record({ host: fc.ipV4(), port: fc.integer({ min: 0, max: 65535 }) });
    const endpoint6 = fc.record({ host: fc.ipV6(), port: fc.integer({ min: 0, max: 65535 }) });
    fc.assert(
      fc.property(
        fc.oneof(fc.tuple(endpoint4, endpoint4), fc.tuple(endpoint6, endpoint6), fc.tuple(endpoint4, endpoint6)),
        fc.constantFrom('v1' as const, 'v2' as const),
        fc.uint8Array({ maxLength: 40 }),
        fc.nat(),
        ([source, destination], version, tail, splitSeed) => {
          const header = formatProxyHeader(version, source, destination);
          const input = Buffer.concat([header, Buffer.from(tail)]);
          const result = parseProxyHeader(input);
          if (result.kind !== 'ok') return false;
          const split = splitSeed % header.length;
          if (parseProxyHeader(input.subarray(0, split)).kind !== 'need-more') return false;
          return (
            result.consumed === header.length &&
            result.header.version === (version === 'v1' ? 1 : 2) &&
            result.header.addresses?.source.host === normalize(source.host) &&
            result.header.addresses.source.port === source.port &&
            result.header.addresses.destination.host === normalize(destination.host) &&
            result.header.addresses.destination.port === destination.port
          );
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary bytes, with or without a signature in front (fast-check)', () => {
    const starts = fc.constantFrom(Buffer.alloc(0), latin1('PROXY '), latin1('PROXY TCP4 '), V2_SIGNATURE, Buffer.concat([V2_SIGNATURE, Buffer.from([0x21])]));
    fc.assert(
      fc.property(starts, fc.uint8Array({ maxLength: 300 }), (start, rest) => {
        const result = parseProxyHeader(Buffer.concat([start, Buffer.from(rest)]));
        return result.kind !== 'ok' || result.consumed <= start.length + rest.length;
      }),
      { numRuns: 5000 },
    );
  });
});

/** What the parser reports for a host: IPv4-mapped as IPv4, IPv6 compressed. */
function normalize(host: string): string {
  const v1 = parseProxyHeader(formatProxyHeaderV1({ host, port: 1 }, { host, port: 1 }));
  return v1.kind === 'ok' ? (v1.header.addresses?.source.host ?? '') : '';
}

describe('formatProxyHeader', () => {
  const table = [
    { title: 'v1 TCP4', version: 'v1', source: '203.0.113.7', destination: '192.0.2.10', expected: latin1('PROXY TCP4 203.0.113.7 192.0.2.10 50000 21\r\n') },
    { title: 'v1 TCP6', version: 'v1', source: '2001:db8::7', destination: '2001:db8::a', expected: latin1('PROXY TCP6 2001:db8::7 2001:db8::a 50000 21\r\n') },
    { title: 'v1 mixed families: IPv4 written mapped', version: 'v1', source: '203.0.113.7', destination: '2001:db8::a', expected: latin1('PROXY TCP6 ::ffff:cb00:7107 2001:db8::a 50000 21\r\n') },
    { title: 'v2 TCP4', version: 'v2', source: '203.0.113.7', destination: '192.0.2.10', expected: v2(0x21, 0x11, TCP4_BLOCK) },
    { title: 'v2 TCP6', version: 'v2', source: '2001:db8::7', destination: '2001:db8::a', expected: v2(0x21, 0x21, TCP6_BLOCK) },
  ] as const;
  for (const { title, version, source, destination, expected } of table) {
    it(title, () => {
      expect(formatProxyHeader(version, { host: source, port: 50000 }, { host: destination, port: 21 }).toString('hex')).toBe(expected.toString('hex'));
    });
  }

  it('v1 of the longest TCP6 addresses fits the 107-byte bound', () => {
    const longest = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe';
    expect(formatProxyHeaderV1({ host: longest, port: 65535 }, { host: longest, port: 65535 }).length).toBeLessThanOrEqual(V1_MAX_BYTES);
  });

  it('v2 round trip keeps a mixed-family pair as IPv4 after normalization', () => {
    const parsed = parseProxyHeader(formatProxyHeaderV2({ host: '198.51.100.9', port: 1 }, { host: '::1', port: 2 }));
    expect(parsed.kind === 'ok' ? parsed.header.addresses : undefined).toEqual({ source: { host: '198.51.100.9', port: 1 }, destination: { host: '::1', port: 2 } });
  });
});

describe('classifyFirstBytes', () => {
  const table = [
    { title: 'v1 header', input: latin1('PROXY TCP4 1.2.3.4'), expected: 'header' },
    { title: 'v1 prefix', input: latin1('PROX'), expected: 'undecided' },
    { title: '"PROXY" and a space exactly', input: latin1('PROXY '), expected: 'header' },
    { title: 'v2 signature', input: V2_SIGNATURE, expected: 'header' },
    { title: 'v2 prefix', input: V2_SIGNATURE.subarray(0, 7), expected: 'undecided' },
    { title: 'PROT P (shares "PRO")', input: latin1('PROT P\r\n'), expected: 'not-header' },
    { title: 'USER', input: latin1('USER a\r\n'), expected: 'not-header' },
    { title: 'an empty line then a command', input: latin1('\r\nUSER a\r\n'), expected: 'not-header' },
    { title: 'TLS ClientHello', input: Buffer.from([0x16, 0x03, 0x01]), expected: 'not-header' },
    { title: 'nothing yet', input: Buffer.alloc(0), expected: 'undecided' },
  ] as const;
  for (const { title, input, expected } of table) {
    it(title, () => {
      expect(classifyFirstBytes(input)).toBe(expected);
    });
  }
});
