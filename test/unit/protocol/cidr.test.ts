import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressBytes, type Cidr, cidrContains, firstMatch, formatCidr, matchesAny, parseCidr } from '../../../src/protocol/cidr.js';

function cidr(text: string): Cidr {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(`${text}: ${parsed.reason}`);
  return parsed.value;
}

describe('parseCidr', () => {
  it.each([
    { input: '192.0.2.0/24', expected: { family: 4, bytes: [192, 0, 2, 0], prefix: 24 } },
    { input: '0.0.0.0/0', expected: { family: 4, bytes: [0, 0, 0, 0], prefix: 0 } },
    { input: '192.0.2.7', expected: { family: 4, bytes: [192, 0, 2, 7], prefix: 32 } },
    { input: '192.0.2.7/32', expected: { family: 4, bytes: [192, 0, 2, 7], prefix: 32 } },
    { input: '10.0.11.128/25', expected: { family: 4, bytes: [10, 0, 11, 128], prefix: 25 } },
    { input: '2001:db8::/32', expected: { family: 6, bytes: [0x20, 0x01, 0x0d, 0xb8, ...Array<number>(12).fill(0)], prefix: 32 } },
    { input: '::/0', expected: { family: 6, bytes: Array<number>(16).fill(0), prefix: 0 } },
    { input: '::1', expected: { family: 6, bytes: [...Array<number>(15).fill(0), 1], prefix: 128 } },
    { input: '::ffff:10.0.11.0/120', expected: { family: 4, bytes: [10, 0, 11, 0], prefix: 24 } },
    { input: '::ffff:0:0/96', expected: { family: 4, bytes: [0, 0, 0, 0], prefix: 0 } },
    { input: '::ffff:192.0.2.7', expected: { family: 4, bytes: [192, 0, 2, 7], prefix: 32 } },
  ])('$input', ({ input, expected }) => {
    expect(parseCidr(input)).toEqual({ ok: true, value: expected });
  });

  it.each([
    { input: '', reason: 'not an IP address' },
    { input: 'example.com/24', reason: 'not an IP address' },
    { input: '192.0.2/24', reason: 'not an IP address' },
    { input: '192.0.2.256/24', reason: 'not an IP address' },
    { input: '0x7f.0.0.1', reason: 'not an IP address' },
    { input: '192.0.2.0/', reason: 'the prefix length is not a number' },
    { input: '192.0.2.0/-1', reason: 'the prefix length is not a number' },
    { input: '192.0.2.0/2a', reason: 'the prefix length is not a number' },
    { input: '192.0.2.0/33', reason: 'the prefix length is above 32' },
    { input: '2001:db8::/129', reason: 'the prefix length is above 128' },
    { input: '192.0.2.1/24', reason: 'host bits are set; the network is 192.0.2.0/24' },
    { input: '2001:db8::1/32', reason: 'host bits are set; the network is 2001:db8::/32' },
    { input: '::ffff:10.0.11.1/120', reason: 'host bits are set; the network is 10.0.11.0/24' },
  ])('refuses $input: $reason', ({ input, reason }) => {
    expect(parseCidr(input)).toEqual({ ok: false, reason });
  });

  it('formats what it parsed back to the same block', () => {
    for (const text of ['192.0.2.0/24', '0.0.0.0/0', '2001:db8::/32', '::1/128', '10.0.11.128/25']) expect(formatCidr(cidr(text))).toBe(text);
  });
});

describe('cidrContains and matchesAny', () => {
  it.each([
    { block: '10.0.11.0/24', address: '10.0.11.7', expected: true },
    { block: '10.0.11.0/24', address: '10.0.12.7', expected: false },
    { block: '10.0.11.0/24', address: '::ffff:10.0.11.7', expected: true },
    { block: '::ffff:10.0.11.0/120', address: '10.0.11.7', expected: true },
    { block: '10.0.11.128/25', address: '10.0.11.127', expected: false },
    { block: '10.0.11.128/25', address: '10.0.11.128', expected: true },
    { block: '0.0.0.0/0', address: '203.0.113.2', expected: true },
    { block: '0.0.0.0/0', address: '2001:db8::2', expected: false },
    { block: '::/0', address: '2001:db8::2', expected: true },
    { block: '::/0', address: '203.0.113.2', expected: false },
    { block: '2001:db8::/32', address: '2001:db8:ffff::1', expected: true },
    { block: '2001:db8::/32', address: '2001:db9::1', expected: false },
    { block: '192.0.2.7', address: '192.0.2.7', expected: true },
    { block: '192.0.2.7', address: '192.0.2.8', expected: false },
    { block: '0.0.0.0/0', address: '', expected: false },
    { block: '0.0.0.0/0', address: 'not-an-address', expected: false },
  ])('$block holds $address: $expected', ({ block, address, expected }) => {
    expect(cidrContains(cidr(block), address)).toBe(expected);
  });

  it('matches any of a list, and nothing in an empty list', () => {
    const blocks = ['192.0.2.0/24', '2001:db8::/32'].map(cidr);
    expect(matchesAny(blocks, '192.0.2.9')).toBe(true);
    expect(matchesAny(blocks, '2001:db8::9')).toBe(true);
    expect(matchesAny(blocks, '198.51.100.9')).toBe(false);
    expect(matchesAny([], '192.0.2.9')).toBe(false);
  });
});

describe('firstMatch', () => {
  const rules = [
    { clients: ['10.0.11.0/25'].map(cidr), address: 'first' },
    { clients: ['10.0.11.0/24', '2001:db8::/32'].map(cidr), address: 'second' },
    { clients: ['0.0.0.0/0'].map(cidr), address: 'everyone else' },
  ];
  it.each([
    { address: '10.0.11.5', expected: 'first' },
    { address: '10.0.11.200', expected: 'second' },
    { address: '::ffff:10.0.11.5', expected: 'first' },
    { address: '2001:db8::5', expected: 'second' },
    { address: '203.0.113.2', expected: 'everyone else' },
    { address: '2001:db9::5', expected: undefined },
  ])('$address -> $expected', ({ address, expected }) => {
    expect(firstMatch(rules, address)?.address).toBe(expected);
  });
});

/** The reference: the address and the network as bit strings, the first `prefix` bits equal. */
function bitsOf(bytes: readonly number[]): string {
  return bytes.map((byte) => byte.toString(2).padStart(8, '0')).join('');
}

function referenceContains(network: readonly number[], prefix: number, address: readonly number[]): boolean {
  return bitsOf(network).slice(0, prefix) === bitsOf(address).slice(0, prefix);
}

function networkOf(bytes: readonly number[], prefix: number): number[] {
  const bits = bitsOf(bytes).slice(0, prefix).padEnd(bytes.length * 8, '0');
  return Array.from({ length: bytes.length }, (_, index) => Number.parseInt(bits.slice(index * 8, index * 8 + 8), 2));
}

function withPrefixOf(network: readonly number[], prefix: number, rest: readonly number[]): number[] {
  const bits = bitsOf(network).slice(0, prefix) + bitsOf(rest).slice(prefix);
  return Array.from({ length: network.length }, (_, index) => Number.parseInt(bits.slice(index * 8, index * 8 + 8), 2));
}

const ipv4Bytes = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });
const ipv6Bytes = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 });
const ipv6Text = (bytes: readonly number[]): string =>
  Array.from({ length: 8 }, (_, index) => (((bytes[index * 2] ?? 0) << 8) | (bytes[index * 2 + 1] ?? 0)).toString(16)).join(':');
const isMapped = (bytes: readonly number[]): boolean => bytes.slice(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff;

describe('the matcher against a bit-by-bit reference (fast-check)', () => {
  it('IPv4: a random network and prefix, a random address, and an address inside', () => {
    fc.assert(
      fc.property(ipv4Bytes, fc.integer({ min: 0, max: 32 }), ipv4Bytes, fc.boolean(), (seed, prefix, other, mapped) => {
        const network = networkOf(seed, prefix);
        const block = cidr(`${network.join('.')}/${prefix}`);
        const addressText = (bytes: readonly number[]): string => (mapped ? `::ffff:${bytes.join('.')}` : bytes.join('.'));
        expect(cidrContains(block, addressText(other))).toBe(referenceContains(network, prefix, other));
        // The network's first `prefix` bits and any bits after them: always inside.
        expect(cidrContains(block, addressText(withPrefixOf(network, prefix, other)))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('IPv6: a random network and prefix, a random address; mapped addresses compare as IPv4', () => {
    fc.assert(
      fc.property(ipv6Bytes, fc.integer({ min: 0, max: 128 }), ipv6Bytes, (seed, prefix, other) => {
        const network = networkOf(seed, prefix);
        const parsed = parseCidr(`${ipv6Text(network)}/${prefix}`);
        expect(parsed.ok).toBe(true);
        if (!parsed.ok) return;
        // Both sides in the mapped range are IPv4; IPv4 never matches an IPv6 block (::/0 included) and the other way round.
        const addressFamily = isMapped(other) ? 4 : 6;
        expect(cidrContains(parsed.value, ipv6Text(other))).toBe(parsed.value.family === addressFamily && referenceContains(network, prefix, other));
      }),
      { numRuns: 2000 },
    );
  });

  it('a block written in the mapped range matches the IPv4 address, written either way', () => {
    const mapped = (v4: readonly number[]): number[] => [...Array<number>(10).fill(0), 0xff, 0xff, ...v4];
    fc.assert(
      fc.property(ipv4Bytes, fc.integer({ min: 96, max: 128 }), ipv4Bytes, fc.boolean(), (seed, prefix, other, asMapped) => {
        const network = networkOf(mapped(seed), prefix);
        const block = cidr(`${ipv6Text(network)}/${prefix}`);
        expect(block.family).toBe(4);
        const address = asMapped ? ipv6Text(mapped(other)) : other.join('.');
        expect(cidrContains(block, address)).toBe(referenceContains(network, prefix, mapped(other)));
      }),
      { numRuns: 2000 },
    );
  });

  it('addressBytes reads an IPv4-mapped address as its IPv4 address', () => {
    fc.assert(
      fc.property(ipv4Bytes, (bytes) => {
        expect(addressBytes(`::ffff:${bytes.join('.')}`)).toEqual({ family: 4, bytes });
        expect(addressBytes(bytes.join('.'))).toEqual({ family: 4, bytes });
      }),
    );
  });
});
