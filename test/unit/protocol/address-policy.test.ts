import { describe, expect, it } from 'vitest';
import {
  ADDRESS_CACHE_LIMIT,
  addressCacheSize,
  type ActiveTargetDecision,
  checkActiveTarget,
  decidePasvRewrite,
  ipFamily,
  isAllowedDataPeer,
  isDialableUpstreamDataPort,
  isSameHost,
  isUnroutable,
  isValidIp,
  MIN_ACTIVE_PORT,
  normalizeAddress,
  type PasvRewriteDecision,
} from '../../../src/protocol/address-policy.js';

describe('isUnroutable', () => {
  const cases: { title: string; input: string; expected: boolean }[] = [
    // RFC 1918 private, with the edges of each block.
    { title: '10/8 first', input: '10.0.0.0', expected: true },
    { title: '10/8 inside', input: '10.1.2.3', expected: true },
    { title: '10/8 last', input: '10.255.255.255', expected: true },
    { title: 'just below 10/8', input: '9.255.255.255', expected: false },
    { title: 'just above 10/8', input: '11.0.0.0', expected: false },
    { title: '172.16/12 first', input: '172.16.0.0', expected: true },
    { title: '172.16/12 last', input: '172.31.255.255', expected: true },
    { title: 'just below 172.16/12', input: '172.15.255.255', expected: false },
    { title: 'just above 172.16/12', input: '172.32.0.0', expected: false },
    { title: '192.168/16 first', input: '192.168.0.0', expected: true },
    { title: '192.168/16 inside', input: '192.168.1.10', expected: true },
    { title: '192.168/16 last', input: '192.168.255.255', expected: true },
    { title: 'just above 192.168/16', input: '192.169.0.0', expected: false },
    // Loopback, link-local, CGNAT (RFC 6598).
    { title: 'loopback 127.0.0.1', input: '127.0.0.1', expected: true },
    { title: 'loopback 127.255.255.254', input: '127.255.255.254', expected: true },
    { title: 'link-local 169.254/16', input: '169.254.10.20', expected: true },
    { title: 'CGNAT 100.64/10 first', input: '100.64.0.0', expected: true },
    { title: 'CGNAT 100.64/10 last', input: '100.127.255.255', expected: true },
    { title: 'just below CGNAT', input: '100.63.255.255', expected: false },
    { title: 'just above CGNAT', input: '100.128.0.0', expected: false },
    // Reserved and documentation ranges.
    { title: 'IETF protocol assignments 192.0.0/24', input: '192.0.0.8', expected: true },
    { title: 'TEST-NET-1 192.0.2/24', input: '192.0.2.1', expected: true },
    { title: 'TEST-NET-2 198.51.100/24', input: '198.51.100.7', expected: true },
    { title: 'TEST-NET-3 203.0.113/24', input: '203.0.113.7', expected: true },
    { title: 'benchmarking 198.18/15', input: '198.19.0.1', expected: true },
    { title: 'class E 240/4', input: '240.0.0.1', expected: true },
    { title: 'AS112 192.175.48/24', input: '192.175.48.1', expected: true },
    { title: 'AMT 192.52.193/24', input: '192.52.193.1', expected: true },
    // Unspecified, multicast, broadcast.
    { title: 'unspecified 0.0.0.0', input: '0.0.0.0', expected: true },
    { title: '"this network" 0/8', input: '0.1.2.3', expected: true },
    { title: 'multicast 224.0.0.1', input: '224.0.0.1', expected: true },
    { title: 'multicast 239.255.255.255', input: '239.255.255.255', expected: true },
    { title: 'limited broadcast', input: '255.255.255.255', expected: true },
    // Public IPv4.
    { title: 'public 8.8.8.8', input: '8.8.8.8', expected: false },
    { title: 'public 1.1.1.1', input: '1.1.1.1', expected: false },
    { title: 'public 223.255.255.255', input: '223.255.255.255', expected: false },
    // IPv6.
    { title: 'IPv6 unspecified ::', input: '::', expected: true },
    { title: 'IPv6 loopback ::1', input: '::1', expected: true },
    { title: 'IPv6 link-local fe80::1', input: 'fe80::1', expected: true },
    { title: 'IPv6 link-local with a zone', input: 'fe80::1%eth0', expected: true },
    { title: 'IPv6 ULA fc00::1', input: 'fc00::1', expected: true },
    { title: 'IPv6 ULA fd12:3456::1', input: 'fd12:3456::1', expected: true },
    { title: 'IPv6 multicast ff02::1', input: 'ff02::1', expected: true },
    { title: 'IPv6 documentation 2001:db8::1', input: '2001:db8::1', expected: true },
    { title: 'IPv6 benchmarking 2001:2::1', input: '2001:2::1', expected: true },
    { title: 'IPv6 discard 100::1', input: '100::1', expected: true },
    { title: 'IPv6 public 2606:4700::1', input: '2606:4700::1', expected: false },
    { title: 'IPv6 public 2a00:1450:4001::1', input: '2a00:1450:4001::1', expected: false },
    // RFC 3879 section 4: new implementations must treat the deprecated site-local prefix as global unicast.
    { title: 'IPv6 deprecated site-local fec0::1 is treated as global', input: 'fec0::1', expected: false },
    // IPv4-mapped IPv6 is judged as the IPv4 inside it.
    { title: 'IPv4-mapped private ::ffff:10.0.0.1', input: '::ffff:10.0.0.1', expected: true },
    { title: 'IPv4-mapped private in hex ::ffff:a00:1', input: '::ffff:a00:1', expected: true },
    { title: 'IPv4-mapped loopback ::ffff:127.0.0.1', input: '::ffff:127.0.0.1', expected: true },
    { title: 'IPv4-mapped CGNAT ::ffff:100.64.0.1', input: '::ffff:100.64.0.1', expected: true },
    { title: 'IPv4-mapped public ::ffff:8.8.8.8', input: '::ffff:8.8.8.8', expected: false },
    // Anything that is not an address cannot be reached either.
    { title: 'an empty string', input: '', expected: true },
    { title: 'a host name', input: 'ftp.example.com', expected: true },
    { title: 'garbage', input: 'not an address', expected: true },
    { title: 'an IPv4 with five parts', input: '1.2.3.4.5', expected: true },
  ];

  it.each(cases)('$title -> $expected', ({ input, expected }) => {
    expect(isUnroutable(input)).toBe(expected);
  });
});

describe('normalizeAddress', () => {
  const cases: { title: string; input: string; expected: string }[] = [
    { title: 'IPv4 unchanged', input: '10.0.0.1', expected: '10.0.0.1' },
    { title: 'IPv4-mapped IPv6 becomes IPv4', input: '::ffff:10.0.0.1', expected: '10.0.0.1' },
    { title: 'IPv4-mapped IPv6, upper case', input: '::FFFF:192.168.1.10', expected: '192.168.1.10' },
    { title: 'IPv4-mapped IPv6 in hex', input: '::ffff:c0a8:10a', expected: '192.168.1.10' },
    { title: 'IPv4-mapped IPv6, full form', input: '0:0:0:0:0:ffff:10.0.0.1', expected: '10.0.0.1' },
    { title: 'IPv6 loopback unchanged', input: '::1', expected: '::1' },
    { title: 'IPv6 upper case becomes lower case', input: '2001:DB8::1', expected: '2001:db8::1' },
    { title: 'IPv6 full form is compressed', input: '2001:0db8:0000:0000:0000:0000:0000:0001', expected: '2001:db8::1' },
    { title: 'IPv6 zone kept', input: 'fe80::1%eth0', expected: 'fe80::1%eth0' },
    { title: 'not an address: returned as given', input: 'ftp.example.com', expected: 'ftp.example.com' },
    { title: 'empty: returned as given', input: '', expected: '' },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    expect(normalizeAddress(input)).toBe(expected);
  });
});

describe('the parsed-address cache', () => {
  it('stays within its bound and answers the same after it was emptied', () => {
    const askAbout = (address: string): unknown => [normalizeAddress(address), ipFamily(address), isUnroutable(address)];
    const first = askAbout('::ffff:10.0.0.1');
    // More distinct addresses than the cache holds, as a flood of clients would bring.
    for (let index = 0; index < ADDRESS_CACHE_LIMIT * 2 + 10; index++) {
      const address = `2001:db8::${(index + 1).toString(16)}`;
      expect(normalizeAddress(address)).toBe(address);
      expect(addressCacheSize()).toBeLessThanOrEqual(ADDRESS_CACHE_LIMIT);
    }
    expect(askAbout('::ffff:10.0.0.1')).toEqual(first);
    expect(first).toEqual(['10.0.0.1', 4, true]);
  });

  it('answers a repeated question from the cache with the same facts as the first time', () => {
    const cases = ['203.0.113.7', '::FFFF:192.168.1.10', 'fe80::1%eth0', 'ftp.example.com', ''];
    const once = cases.map((address) => [normalizeAddress(address), ipFamily(address), isUnroutable(address)]);
    const twice = cases.map((address) => [normalizeAddress(address), ipFamily(address), isUnroutable(address)]);
    expect(twice).toEqual(once);
    expect(once).toEqual([
      ['203.0.113.7', 4, true],
      ['192.168.1.10', 4, true],
      ['fe80::1%eth0', 6, true],
      ['ftp.example.com', undefined, true],
      ['', undefined, true],
    ]);
  });
});

describe('isValidIp and ipFamily', () => {
  const cases: { title: string; input: string; expected: { valid: boolean; family: 4 | 6 | undefined } }[] = [
    { title: 'dotted IPv4', input: '10.0.0.1', expected: { valid: true, family: 4 } },
    { title: 'IPv6', input: '2001:db8::1', expected: { valid: true, family: 6 } },
    { title: 'IPv6 unspecified', input: '::', expected: { valid: true, family: 6 } },
    { title: 'IPv4-mapped IPv6: valid, and IPv4 after normalizing', input: '::ffff:10.0.0.1', expected: { valid: true, family: 4 } },
    { title: 'host name', input: 'localhost', expected: { valid: false, family: undefined } },
    { title: 'empty', input: '', expected: { valid: false, family: undefined } },
    { title: 'IPv4 part above 255', input: '10.0.0.256', expected: { valid: false, family: undefined } },
    { title: 'IPv6 with brackets', input: '[::1]', expected: { valid: false, family: undefined } },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    expect(isValidIp(input)).toBe(expected.valid);
    expect(ipFamily(input)).toBe(expected.family);
  });

  it.each([
    { title: 'two parts (127.1)', input: '127.1' },
    { title: 'a leading zero (octal in inet_aton)', input: '010.0.0.1' },
    { title: 'a single 32-bit number', input: '167772161' },
    { title: 'hexadecimal parts', input: '0x0a.0.0.1' },
  ])('isValidIp accepts only four-part decimal IPv4: refuses $title', ({ input }) => {
    expect(isValidIp(input)).toBe(false);
  });
});

describe('isSameHost', () => {
  const cases: { title: string; input: [string, string]; expected: boolean }[] = [
    { title: 'identical IPv4', input: ['10.0.0.1', '10.0.0.1'], expected: true },
    { title: 'different IPv4', input: ['10.0.0.1', '10.0.0.2'], expected: false },
    { title: 'IPv4 and its ::ffff: form', input: ['10.0.0.1', '::ffff:10.0.0.1'], expected: true },
    { title: '::ffff: form and IPv4', input: ['::ffff:10.0.0.1', '10.0.0.1'], expected: true },
    { title: 'upper-case ::FFFF: form and IPv4', input: ['::FFFF:10.0.0.1', '10.0.0.1'], expected: true },
    { title: 'hex ::ffff: form and IPv4', input: ['::ffff:a00:1', '10.0.0.1'], expected: true },
    { title: 'two ::ffff: forms', input: ['::ffff:10.0.0.1', '::ffff:a00:1'], expected: true },
    { title: '::ffff: form of a different IPv4', input: ['::ffff:10.0.0.2', '10.0.0.1'], expected: false },
    { title: 'IPv6 in different spellings', input: ['2001:DB8::1', '2001:0db8:0:0:0:0:0:1'], expected: true },
    { title: 'different IPv6', input: ['2001:db8::1', '2001:db8::2'], expected: false },
    { title: 'IPv4 loopback and IPv6 loopback are different hosts', input: ['127.0.0.1', '::1'], expected: false },
    { title: 'IPv4 and an unrelated IPv6', input: ['10.0.0.1', '2001:db8::1'], expected: false },
  ];

  it.each(cases)('$title', ({ input: [a, b], expected }) => {
    expect(isSameHost(a, b)).toBe(expected);
    expect(isSameHost(b, a)).toBe(expected);
  });
});

describe('decidePasvRewrite', () => {
  const cases: { title: string; input: { advertised: string; publicAddress: string }; expected: PasvRewriteDecision }[] = [
    { title: 'a private 227 address is rewritten', input: { advertised: '192.168.1.10', publicAddress: '203.0.113.7' }, expected: { rewrite: true, reason: 'unroutable' } },
    { title: 'a 10/8 address is rewritten', input: { advertised: '10.0.0.5', publicAddress: '198.51.100.1' }, expected: { rewrite: true, reason: 'unroutable' } },
    { title: 'a CGNAT address is rewritten', input: { advertised: '100.64.1.1', publicAddress: '203.0.113.7' }, expected: { rewrite: true, reason: 'unroutable' } },
    { title: 'a loopback address is rewritten', input: { advertised: '127.0.0.1', publicAddress: '203.0.113.7' }, expected: { rewrite: true, reason: 'unroutable' } },
    { title: '0.0.0.0 is rewritten', input: { advertised: '0.0.0.0', publicAddress: '203.0.113.7' }, expected: { rewrite: true, reason: 'unroutable' } },
    { title: 'the public address itself is left alone', input: { advertised: '8.8.4.4', publicAddress: '8.8.4.4' }, expected: { rewrite: false, reason: 'already-public' } },
    { title: 'the public address in ::ffff: form is left alone', input: { advertised: '8.8.4.4', publicAddress: '::ffff:8.8.4.4' }, expected: { rewrite: false, reason: 'already-public' } },
    // A private "public address" (ftpmasq inside a LAN) that the server already names needs no rewrite.
    { title: 'a private address equal to the configured one is left alone', input: { advertised: '192.168.1.10', publicAddress: '192.168.1.10' }, expected: { rewrite: false, reason: 'already-public' } },
    { title: 'another routable address is left alone', input: { advertised: '8.8.8.8', publicAddress: '1.1.1.1' }, expected: { rewrite: false, reason: 'routable' } },
    { title: 'a routable address with an IPv6 public address is left alone', input: { advertised: '8.8.8.8', publicAddress: '2606:4700::1' }, expected: { rewrite: false, reason: 'routable' } },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    expect(decidePasvRewrite(input.advertised, input.publicAddress)).toEqual(expected);
  });
});

describe('checkActiveTarget', () => {
  const FOREIGN: ActiveTargetDecision = { ok: false, reason: 'foreign-host', reply: '500 Illegal PORT command: address must be your own.' };
  const PRIVILEGED: ActiveTargetDecision = { ok: false, reason: 'privileged-port', reply: '504 Illegal PORT command: port below 1024.' };

  const cases: { title: string; input: { host: string; port: number; client: string }; expected: ActiveTargetDecision }[] = [
    { title: 'own address, port 1024', input: { host: '198.51.100.20', port: 1024, client: '198.51.100.20' }, expected: { ok: true } },
    { title: 'own address, port 65535', input: { host: '198.51.100.20', port: 65535, client: '198.51.100.20' }, expected: { ok: true } },
    { title: 'own address, port 1023 (privileged)', input: { host: '198.51.100.20', port: 1023, client: '198.51.100.20' }, expected: PRIVILEGED },
    { title: 'own address, port 21 (bounce to FTP)', input: { host: '198.51.100.20', port: 21, client: '198.51.100.20' }, expected: PRIVILEGED },
    { title: 'own address, port 25 (bounce to SMTP)', input: { host: '198.51.100.20', port: 25, client: '198.51.100.20' }, expected: PRIVILEGED },
    { title: 'own address, port 1', input: { host: '198.51.100.20', port: 1, client: '198.51.100.20' }, expected: PRIVILEGED },
    { title: 'own address in ::ffff: form on the control connection', input: { host: '198.51.100.20', port: 2000, client: '::ffff:198.51.100.20' }, expected: { ok: true } },
    { title: 'own address in ::ffff: form in EPRT', input: { host: '::ffff:198.51.100.20', port: 2000, client: '198.51.100.20' }, expected: { ok: true } },
    { title: 'own IPv6 address in another spelling', input: { host: '2001:DB8::20', port: 2000, client: '2001:db8:0:0:0:0:0:20' }, expected: { ok: true } },
    { title: 'a foreign host (RFC 2577 bounce attack)', input: { host: '203.0.113.99', port: 2000, client: '198.51.100.20' }, expected: FOREIGN },
    { title: 'a foreign private host', input: { host: '10.0.0.1', port: 2000, client: '198.51.100.20' }, expected: FOREIGN },
    { title: 'a foreign host and a privileged port: foreign is reported first', input: { host: '203.0.113.99', port: 25, client: '198.51.100.20' }, expected: FOREIGN },
    { title: 'IPv4 loopback when the client is IPv6 loopback', input: { host: '127.0.0.1', port: 2000, client: '::1' }, expected: FOREIGN },
    { title: 'a neighbour address', input: { host: '198.51.100.21', port: 2000, client: '198.51.100.20' }, expected: FOREIGN },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    expect(checkActiveTarget(input.host, input.port, input.client)).toEqual(expected);
  });

  it('the limit is 1024', () => {
    expect(MIN_ACTIVE_PORT).toBe(1024);
  });
});

describe('isDialableUpstreamDataPort (issue 11: a 227 naming port 22 was dialled)', () => {
  const cases: { title: string; port: number; expected: boolean }[] = [
    { title: 'port 0', port: 0, expected: false },
    { title: 'port 21', port: 21, expected: false },
    { title: 'port 22', port: 22, expected: false },
    { title: 'port 1023', port: 1023, expected: false },
    { title: 'port 1024', port: 1024, expected: true },
    { title: 'port 50000', port: 50000, expected: true },
    { title: 'port 65535', port: 65535, expected: true },
    { title: 'port 65536', port: 65536, expected: false },
    { title: 'not an integer', port: 2000.5, expected: false },
  ];

  it.each(cases)('$title', ({ port, expected }) => {
    expect(isDialableUpstreamDataPort(port)).toBe(expected);
  });
});

describe('isAllowedDataPeer', () => {
  const cases: { title: string; input: { peer: string | undefined; client: string }; expected: boolean }[] = [
    { title: 'the control client', input: { peer: '198.51.100.20', client: '198.51.100.20' }, expected: true },
    { title: 'the control client in ::ffff: form', input: { peer: '::ffff:198.51.100.20', client: '198.51.100.20' }, expected: true },
    { title: 'the control client, control connection in ::ffff: form', input: { peer: '198.51.100.20', client: '::ffff:198.51.100.20' }, expected: true },
    { title: 'the control client over IPv6', input: { peer: '2001:db8::20', client: '2001:db8::20' }, expected: true },
    { title: 'another host', input: { peer: '203.0.113.99', client: '198.51.100.20' }, expected: false },
    { title: 'another IPv6 host', input: { peer: '2001:db8::21', client: '2001:db8::20' }, expected: false },
    { title: 'an undefined peer (socket already closed)', input: { peer: undefined, client: '198.51.100.20' }, expected: false },
  ];

  it.each(cases)('$title', ({ input, expected }) => {
    expect(isAllowedDataPeer(input.peer, input.client)).toBe(expected);
  });
});
