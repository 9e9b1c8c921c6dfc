import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  formatDuration,
  formatEndpoint,
  formatPortRange,
  type Endpoint,
  parseChoice,
  parseDuration,
  parseEndpoint,
  parseIpAddress,
  parsePortRange,
  parsePositiveInteger,
  type PortRange,
} from '../../../src/config/values.js';
import { configErrorOf } from './config-error-of.js';

interface ExpectedError {
  readonly field: string;
  readonly expected: string;
  readonly received: string;
}

function expectConfigError(run: () => unknown, expected: ExpectedError): void {
  const error = configErrorOf(run);
  expect({ field: error.field, expected: error.expected, received: error.received }).toEqual(expected);
  // The one line the CLI prints: the flag, the expected form and the value it got.
  expect(error.message).toBe(`${expected.field}: expected ${expected.expected}, got ${JSON.stringify(expected.received)}`);
}

describe('ConfigError', () => {
  it('carries the field, the expected form and the value received', () => {
    const error = new ConfigError('--mode', 'one of relay|rewrite', 'nat');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('ConfigError');
    expect(error.field).toBe('--mode');
    expect(error.expected).toBe('one of relay|rewrite');
    expect(error.received).toBe('nat');
    expect(error.message).toBe('--mode: expected one of relay|rewrite, got "nat"');
  });

  it('quotes the received value so spaces and control characters show', () => {
    expect(new ConfigError('--upstream', 'HOST:PORT', ' a\tb\n').message).toBe('--upstream: expected HOST:PORT, got " a\\tb\\n"');
  });
});

const LISTEN = { allowHostname: false, allowPortZero: true };
const UPSTREAM = { allowHostname: true, allowPortZero: false };
const IP_FORM = 'IP:PORT or [IPv6]:PORT';
const HOST_FORM = 'HOST:PORT or [IPv6]:PORT';
const IP_PORT_FORM = `${IP_FORM} with a port from 0 to 65535`;
const HOST_PORT_FORM = `${HOST_FORM} with a port from 1 to 65535`;

describe('parseEndpoint for a listen address (IP literals, port 0 allowed)', () => {
  const valid: { title: string; input: string; expected: Endpoint }[] = [
    { title: 'IPv4 any', input: '0.0.0.0:21', expected: { host: '0.0.0.0', port: 21 } },
    { title: 'IPv4 loopback, port 0', input: '127.0.0.1:0', expected: { host: '127.0.0.1', port: 0 } },
    { title: 'IPv4, port 65535', input: '10.0.0.1:65535', expected: { host: '10.0.0.1', port: 65535 } },
    { title: 'port with leading zeros', input: '10.0.0.1:00021', expected: { host: '10.0.0.1', port: 21 } },
    { title: 'IPv6 any in brackets', input: '[::]:21', expected: { host: '::', port: 21 } },
    { title: 'IPv6 loopback in brackets', input: '[::1]:2121', expected: { host: '::1', port: 2121 } },
    { title: 'IPv6 in brackets, port 0', input: '[2001:db8::1]:0', expected: { host: '2001:db8::1', port: 0 } },
    { title: 'IPv4-mapped IPv6 in brackets', input: '[::ffff:10.0.0.1]:21', expected: { host: '::ffff:10.0.0.1', port: 21 } },
    { title: 'link-local IPv6 with a zone', input: '[fe80::1%eth0]:21', expected: { host: 'fe80::1%eth0', port: 21 } },
  ];

  it.each(valid)('$title', ({ input, expected }) => {
    expect(parseEndpoint('--listen', input, LISTEN)).toEqual(expected);
  });

  const invalid: { title: string; input: string; expected: ExpectedError }[] = [
    { title: 'a host name', input: 'localhost:21', expected: { field: '--listen', expected: IP_FORM, received: 'localhost:21' } },
    { title: 'a host name in brackets', input: '[localhost]:21', expected: { field: '--listen', expected: IP_FORM, received: '[localhost]:21' } },
    { title: 'no port', input: '0.0.0.0', expected: { field: '--listen', expected: IP_FORM, received: '0.0.0.0' } },
    { title: 'no host', input: ':21', expected: { field: '--listen', expected: IP_FORM, received: ':21' } },
    { title: 'empty', input: '', expected: { field: '--listen', expected: IP_FORM, received: '' } },
    { title: 'IPv6 without brackets', input: '::1:21', expected: { field: '--listen', expected: IP_FORM, received: '::1:21' } },
    { title: 'IPv6 in brackets without a port', input: '[::1]', expected: { field: '--listen', expected: IP_FORM, received: '[::1]' } },
    { title: 'IPv6 in brackets with an empty port', input: '[::1]:', expected: { field: '--listen', expected: IP_FORM, received: '[::1]:' } },
    { title: 'an invalid IPv6 in brackets', input: '[2001:db8:::1]:21', expected: { field: '--listen', expected: IP_FORM, received: '[2001:db8:::1]:21' } },
    { title: 'an IPv4 part above 255', input: '256.0.0.1:21', expected: { field: '--listen', expected: IP_FORM, received: '256.0.0.1:21' } },
    { title: 'an empty port', input: '0.0.0.0:', expected: { field: '--listen', expected: IP_PORT_FORM, received: '0.0.0.0:' } },
    { title: 'port 65536', input: '0.0.0.0:65536', expected: { field: '--listen', expected: IP_PORT_FORM, received: '0.0.0.0:65536' } },
    { title: 'port 99999', input: '0.0.0.0:99999', expected: { field: '--listen', expected: IP_PORT_FORM, received: '0.0.0.0:99999' } },
    { title: 'a six-digit port', input: '0.0.0.0:000021', expected: { field: '--listen', expected: IP_PORT_FORM, received: '0.0.0.0:000021' } },
    { title: 'a negative port', input: '0.0.0.0:-1', expected: { field: '--listen', expected: IP_PORT_FORM, received: '0.0.0.0:-1' } },
    { title: 'a service name for a port', input: '0.0.0.0:ftp', expected: { field: '--listen', expected: IP_PORT_FORM, received: '0.0.0.0:ftp' } },
    { title: 'a space after the port', input: '0.0.0.0:21 ', expected: { field: '--listen', expected: IP_PORT_FORM, received: '0.0.0.0:21 ' } },
    { title: 'IPv6 in brackets, port 65536', input: '[::]:65536', expected: { field: '--listen', expected: IP_PORT_FORM, received: '[::]:65536' } },
  ];

  it.each(invalid)('refuses $title', ({ input, expected }) => {
    expectConfigError(() => parseEndpoint('--listen', input, LISTEN), expected);
  });
});

describe('parseEndpoint for an upstream (host names allowed, port 0 refused)', () => {
  const valid: { title: string; input: string; expected: Endpoint }[] = [
    { title: 'a fully qualified name', input: 'ftp.example.com:21', expected: { host: 'ftp.example.com', port: 21 } },
    { title: 'a single label', input: 'ftpserver:2121', expected: { host: 'ftpserver', port: 2121 } },
    { title: 'localhost', input: 'localhost:21', expected: { host: 'localhost', port: 21 } },
    { title: 'hyphens and digits', input: 'ftp-01.dc-2.internal:21', expected: { host: 'ftp-01.dc-2.internal', port: 21 } },
    { title: 'upper case', input: 'FTP.Example.COM:21', expected: { host: 'FTP.Example.COM', port: 21 } },
    { title: 'a one-letter name', input: 'a:1', expected: { host: 'a', port: 1 } },
    { title: 'a 63-character label', input: `${'a'.repeat(63)}.example:21`, expected: { host: `${'a'.repeat(63)}.example`, port: 21 } },
    { title: 'an IPv4 literal', input: '10.0.0.5:21', expected: { host: '10.0.0.5', port: 21 } },
    { title: 'an IPv6 literal in brackets', input: '[2001:db8::5]:21', expected: { host: '2001:db8::5', port: 21 } },
    { title: 'port 65535', input: 'ftp.example.com:65535', expected: { host: 'ftp.example.com', port: 65535 } },
  ];

  it.each(valid)('$title', ({ input, expected }) => {
    expect(parseEndpoint('--upstream', input, UPSTREAM)).toEqual(expected);
  });

  const invalid: { title: string; input: string; expected: ExpectedError }[] = [
    { title: 'port 0', input: 'ftp.example.com:0', expected: { field: '--upstream', expected: HOST_PORT_FORM, received: 'ftp.example.com:0' } },
    { title: 'IPv6, port 0', input: '[2001:db8::5]:0', expected: { field: '--upstream', expected: HOST_PORT_FORM, received: '[2001:db8::5]:0' } },
    { title: 'port 65536', input: 'ftp.example.com:65536', expected: { field: '--upstream', expected: HOST_PORT_FORM, received: 'ftp.example.com:65536' } },
    { title: 'no port', input: 'ftp.example.com', expected: { field: '--upstream', expected: HOST_FORM, received: 'ftp.example.com' } },
    { title: 'a URL', input: 'ftp://ftp.example.com:21', expected: { field: '--upstream', expected: HOST_FORM, received: 'ftp://ftp.example.com:21' } },
    { title: 'user@host', input: 'anonymous@ftp.example.com:21', expected: { field: '--upstream', expected: HOST_FORM, received: 'anonymous@ftp.example.com:21' } },
    { title: 'an underscore', input: 'ftp_server:21', expected: { field: '--upstream', expected: HOST_FORM, received: 'ftp_server:21' } },
    { title: 'a leading hyphen', input: '-ftp.example.com:21', expected: { field: '--upstream', expected: HOST_FORM, received: '-ftp.example.com:21' } },
    { title: 'a label ending in a hyphen', input: 'ftp-.example.com:21', expected: { field: '--upstream', expected: HOST_FORM, received: 'ftp-.example.com:21' } },
    { title: 'an empty label', input: 'ftp..example.com:21', expected: { field: '--upstream', expected: HOST_FORM, received: 'ftp..example.com:21' } },
    { title: 'a trailing dot', input: 'ftp.example.com.:21', expected: { field: '--upstream', expected: HOST_FORM, received: 'ftp.example.com.:21' } },
    { title: 'a 64-character label', input: `${'a'.repeat(64)}.example:21`, expected: { field: '--upstream', expected: HOST_FORM, received: `${'a'.repeat(64)}.example:21` } },
    { title: 'a name over 253 characters', input: `${Array(51).fill('abcd').join('.')}:21`, expected: { field: '--upstream', expected: HOST_FORM, received: `${Array(51).fill('abcd').join('.')}:21` } },
    { title: 'a space in the name', input: 'ftp example:21', expected: { field: '--upstream', expected: HOST_FORM, received: 'ftp example:21' } },
    { title: 'a non-ASCII name', input: 'ftp.exämple.com:21', expected: { field: '--upstream', expected: HOST_FORM, received: 'ftp.exämple.com:21' } },
  ];

  it.each(invalid)('refuses $title', ({ input, expected }) => {
    expectConfigError(() => parseEndpoint('--upstream', input, UPSTREAM), expected);
  });

  // Regression (found by the unit tier, fixed): a value shaped like a dotted IPv4 address but not a valid one passes as a host name, since
  // every label is alphanumeric. A typo such as 192.168.1.300 then fails only at connect time
  // (getaddrinfo), not at startup with exit 2; and "10.1.5" is read by getaddrinfo/inet_aton as
  // 10.1.0.5. RFC 1123 section 2.1: a valid host name never has the dotted-decimal form #.#.#.#,
  // its top-level label being alphabetic.
  it.each([
    { title: 'an IPv4 part above 255', input: '192.168.1.300:21' },
    { title: 'three numeric parts', input: '10.1.5:21' },
    { title: 'all-numeric labels', input: '999.999.999.999:21' },
  ])('refuses a numeric non-address as a host name: $title', ({ input }) => {
    expectConfigError(() => parseEndpoint('--upstream', input, UPSTREAM), { field: '--upstream', expected: HOST_FORM, received: input });
  });
});

describe('parsePortRange', () => {
  const FORM = 'LOW-HIGH with 1024 <= LOW <= HIGH <= 65535';

  const valid: { title: string; input: string; expected: PortRange }[] = [
    { title: 'the default range', input: '60000-60999', expected: { low: 60000, high: 60999 } },
    { title: 'the widest range', input: '1024-65535', expected: { low: 1024, high: 65535 } },
    { title: 'a single port at the bottom', input: '1024-1024', expected: { low: 1024, high: 1024 } },
    { title: 'a single port at the top', input: '65535-65535', expected: { low: 65535, high: 65535 } },
    { title: 'surrounding spaces', input: '  50000-50010  ', expected: { low: 50000, high: 50010 } },
    { title: 'leading zeros', input: '01024-02048', expected: { low: 1024, high: 2048 } },
  ];

  it.each(valid)('$title', ({ input, expected }) => {
    expect(parsePortRange('--passive-ports', input)).toEqual(expected);
  });

  it.each([
    { title: 'LOW below 1024', input: '1023-2000' },
    { title: 'LOW 0', input: '0-100' },
    { title: 'LOW above HIGH', input: '2000-1999' },
    { title: 'HIGH above 65535', input: '60000-65536' },
    { title: 'HIGH 99999', input: '60000-99999' },
    { title: 'a six-digit number', input: '60000-100000' },
    { title: 'one number', input: '60000' },
    { title: 'no HIGH', input: '60000-' },
    { title: 'no LOW', input: '-60999' },
    { title: 'spaces around the hyphen', input: '60000 - 60999' },
    { title: 'a colon instead of a hyphen', input: '60000:60999' },
    { title: 'three numbers', input: '60000-60500-60999' },
    { title: 'words', input: 'low-high' },
    { title: 'negative numbers', input: '-2000--1000' },
    { title: 'empty', input: '' },
    { title: 'spaces only (received untrimmed)', input: '   ' },
  ])('refuses $title', ({ input }) => {
    expectConfigError(() => parsePortRange('--passive-ports', input), { field: '--passive-ports', expected: FORM, received: input });
  });
});

describe('parseIpAddress', () => {
  it.each([
    { title: 'IPv4', input: '203.0.113.7', expected: '203.0.113.7' },
    { title: 'IPv6', input: '2001:db8::7', expected: '2001:db8::7' },
    { title: 'IPv4-mapped IPv6, returned as given', input: '::ffff:203.0.113.7', expected: '::ffff:203.0.113.7' },
    { title: 'upper-case IPv6, returned as given', input: '2001:DB8::7', expected: '2001:DB8::7' },
  ])('$title', ({ input, expected }) => {
    expect(parseIpAddress('--public-address', input)).toBe(expected);
  });

  it.each([
    { title: 'a host name', input: 'ftp.example.com' },
    { title: 'empty', input: '' },
    { title: 'three parts', input: '203.0.113' },
    { title: 'a part above 255', input: '203.0.113.256' },
    { title: 'a short form (127.1)', input: '127.1' },
    { title: 'IPv6 in brackets', input: '[2001:db8::7]' },
    { title: 'with a port', input: '203.0.113.7:21' },
    { title: 'a CIDR prefix', input: '203.0.113.0/24' },
    { title: 'surrounding spaces', input: ' 203.0.113.7 ' },
  ])('refuses $title', ({ input }) => {
    expectConfigError(() => parseIpAddress('--public-address', input), {
      field: '--public-address',
      expected: 'an IPv4 or IPv6 address',
      received: input,
    });
  });
});

describe('parseChoice', () => {
  const MODES = ['relay', 'rewrite'] as const;

  it.each([
    { title: 'the first choice', input: 'relay', expected: 'relay' },
    { title: 'the second choice', input: 'rewrite', expected: 'rewrite' },
  ])('$title', ({ input, expected }) => {
    expect(parseChoice('--mode', input, MODES)).toBe(expected);
  });

  it.each([
    { title: 'an unknown word', input: 'nat' },
    { title: 'upper case (choices are case-sensitive)', input: 'RELAY' },
    { title: 'a leading space', input: ' relay' },
    { title: 'a prefix', input: 'rel' },
    { title: 'empty', input: '' },
  ])('refuses $title', ({ input }) => {
    expectConfigError(() => parseChoice('--mode', input, MODES), { field: '--mode', expected: 'one of relay|rewrite', received: input });
  });

  it('lists every choice in the expected form', () => {
    expect(configErrorOf(() => parseChoice('--epsv', 'on', ['passthrough', 'translate', 'disable'])).expected).toBe(
      'one of passthrough|translate|disable',
    );
  });
});

describe('parseDuration', () => {
  const FORM = 'a duration such as 30s, 500ms or 2m';
  const ABOVE_ZERO = 'a duration above zero';

  it.each([
    { title: 'bare seconds', input: '30', expected: 30_000 },
    { title: 'seconds with s', input: '30s', expected: 30_000 },
    { title: 'milliseconds', input: '500ms', expected: 500 },
    { title: 'one millisecond', input: '1ms', expected: 1 },
    { title: 'one second', input: '1', expected: 1000 },
    { title: 'leading zeros', input: '007s', expected: 7000 },
    { title: 'surrounding spaces', input: ' 10s ', expected: 10_000 },
    { title: 'nine digits of milliseconds', input: '999999999ms', expected: 999_999_999 },
    { title: 'minutes', input: '2m', expected: 120_000 },
    { title: 'hours', input: '1h', expected: 3_600_000 },
    { title: 'the largest whole number of hours under the timer limit', input: '596h', expected: 2_145_600_000 },
  ])('$title', ({ input, expected }) => {
    expect(parseDuration('--passive-timeout', input)).toBe(expected);
  });

  it.each([
    { title: 'empty', input: '', expected: FORM },
    { title: 'a unit alone', input: 's', expected: FORM },
    { title: 'ms alone', input: 'ms', expected: FORM },
    { title: 'days', input: '1d', expected: FORM },
    { title: 'a unit spelled out', input: '5min', expected: FORM },
    { title: 'two units', input: '1m30s', expected: FORM },
    { title: 'upper-case unit', input: '30S', expected: FORM },
    { title: 'a fraction', input: '1.5s', expected: FORM },
    { title: 'a negative number', input: '-1s', expected: FORM },
    { title: 'a space before the unit', input: '30 s', expected: FORM },
    { title: 'ten digits', input: '1234567890', expected: FORM },
    { title: 'words', input: 'thirty seconds', expected: FORM },
    { title: 'zero', input: '0', expected: ABOVE_ZERO },
    { title: 'zero seconds', input: '0s', expected: ABOVE_ZERO },
    { title: 'zero milliseconds', input: '0ms', expected: ABOVE_ZERO },
    { title: 'zero with leading zeros', input: '000ms', expected: ABOVE_ZERO },
  ])('refuses $title', ({ input, expected }) => {
    expectConfigError(() => parseDuration('--passive-timeout', input), { field: '--passive-timeout', expected, received: input });
  });

  // Regression (found by the unit tier, fixed): durations are used as setTimeout delays (data-connector.ts preparePassive for
  // --passive-timeout, net/dial.ts for --upstream-connect-timeout). Node sets any delay above
  // 2147483647 ms (~24.8 days) to 1 ms, with a TimeoutOverflowWarning. "2147484s" is accepted as
  // 2147484000 ms, so every passive port would time out at once. Seconds may have 9 digits while
  // milliseconds top out at 999999999, so only the seconds form overflows.
  it.each([
    { title: '2147484s', input: '2147484s' },
    { title: '2147484 bare seconds', input: '2147484' },
    { title: '999999999s', input: '999999999s' },
    { title: '35792m', input: '35792m' },
    { title: '597h', input: '597h' },
  ])('refuses a duration beyond the 2^31-1 ms timer limit: $title', ({ input }) => {
    expect(() => parseDuration('--passive-timeout', input)).toThrow(ConfigError);
  });

  it('accepts the largest whole-second duration under the timer limit', () => {
    expect(parseDuration('--passive-timeout', '2147483s')).toBe(2_147_483_000);
  });
});

describe('parsePositiveInteger', () => {
  it.each([
    { title: 'one', input: '1', expected: 1 },
    { title: 'the default maximum', input: '1000000', expected: 1_000_000 },
    { title: 'an ordinary value', input: '10000', expected: 10_000 },
    { title: 'leading zeros', input: '007', expected: 7 },
    { title: 'surrounding spaces', input: ' 5 ', expected: 5 },
  ])('$title', ({ input, expected }) => {
    expect(parsePositiveInteger('--max-sessions', input)).toBe(expected);
  });

  it.each([
    { title: 'zero', input: '0' },
    { title: 'zeros', input: '000' },
    { title: 'above the default maximum', input: '1000001' },
    { title: 'ten digits', input: '1234567890' },
    { title: 'a negative number', input: '-1' },
    { title: 'a plus sign', input: '+5' },
    { title: 'a fraction', input: '1.5' },
    { title: 'an exponent', input: '1e3' },
    { title: 'hexadecimal', input: '0x10' },
    { title: 'a word', input: 'many' },
    { title: 'empty', input: '' },
  ])('refuses $title', ({ input }) => {
    expectConfigError(() => parsePositiveInteger('--max-sessions', input), {
      field: '--max-sessions',
      expected: 'a whole number from 1 to 1000000',
      received: input,
    });
  });

  it('honours a custom maximum', () => {
    expect(parsePositiveInteger('--n', '10', 10)).toBe(10);
    expectConfigError(() => parsePositiveInteger('--n', '11', 10), { field: '--n', expected: 'a whole number from 1 to 10', received: '11' });
  });
});

describe('ConfigError', () => {
  it('says expected and got, the value quoted', () => {
    expect(new ConfigError('--mode', 'one of relay|rewrite', 'nat').message).toBe('--mode: expected one of relay|rewrite, got "nat"');
  });

  it('takes a detail that replaces the expected/got wording and keeps the parts', () => {
    const error = new ConfigError('f.yaml: sites[0].pasiveTimeout', 'one of name, listen', 'pasiveTimeout', 'unknown key; did you mean passiveTimeout?');
    expect(error.message).toBe('f.yaml: sites[0].pasiveTimeout: unknown key; did you mean passiveTimeout?');
    expect([error.field, error.expected, error.received]).toEqual(['f.yaml: sites[0].pasiveTimeout', 'one of name, listen', 'pasiveTimeout']);
  });
});

describe('formatDuration, formatEndpoint, formatPortRange', () => {
  it.each([
    { ms: 30_000, text: '30s' },
    { ms: 600_000, text: '600s' },
    { ms: 1500, text: '1500ms' },
    { ms: 1, text: '1ms' },
  ])('$ms ms is $text', ({ ms, text }) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('every duration parseDuration accepts formats to a text it reads back to the same milliseconds', () => {
    const accepted = fc
      .tuple(fc.integer({ min: 1, max: 999_999_999 }), fc.constantFrom('', 'ms', 's', 'm', 'h'))
      .map(([amount, unit]) => `${amount}${unit}`)
      .filter((text) => {
        try {
          parseDuration('d', text);
          return true;
        } catch {
          return false;
        }
      });
    fc.assert(
      fc.property(accepted, (text) => {
        const ms = parseDuration('d', text);
        expect(parseDuration('d', formatDuration(ms))).toBe(ms);
      }),
    );
  });

  it.each([
    { endpoint: { host: '0.0.0.0', port: 21 }, text: '0.0.0.0:21' },
    { endpoint: { host: '::', port: 21 }, text: '[::]:21' },
    { endpoint: { host: 'ftp.internal', port: 2121 }, text: 'ftp.internal:2121' },
  ])('$text', ({ endpoint, text }) => {
    expect(formatEndpoint(endpoint)).toBe(text);
    expect(parseEndpoint('e', text, UPSTREAM)).toEqual(endpoint);
  });

  it('formats a port range as LOW-HIGH', () => {
    expect(formatPortRange({ low: 60000, high: 60999 })).toBe('60000-60999');
  });
});
