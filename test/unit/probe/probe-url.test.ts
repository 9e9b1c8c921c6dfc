import { describe, expect, it } from 'vitest';
import { type ProbeTarget, parseProbeUrl, redactUrl } from '../../../src/probe/probe-url.js';

describe('parseProbeUrl accepts', () => {
  const cases: { title: string; input: string; expected: ProbeTarget }[] = [
    {
      title: 'user, password, IPv4 host, no port (21)',
      input: 'ftp://scott:tiger@203.0.113.10',
      expected: { host: '203.0.113.10', port: 21, user: 'scott', password: 'tiger' },
    },
    {
      title: 'a trailing slash',
      input: 'ftp://scott:tiger@203.0.113.10/',
      expected: { host: '203.0.113.10', port: 21, user: 'scott', password: 'tiger' },
    },
    {
      title: 'an explicit port',
      input: 'ftp://scott:tiger@203.0.113.10:2121',
      expected: { host: '203.0.113.10', port: 2121, user: 'scott', password: 'tiger' },
    },
    {
      title: 'an explicit port 21 (which URL drops as the default)',
      input: 'ftp://scott:tiger@203.0.113.10:21',
      expected: { host: '203.0.113.10', port: 21, user: 'scott', password: 'tiger' },
    },
    {
      title: 'a host name (lower-cased by URL)',
      input: 'ftp://scott:tiger@FTP.Example.com:21',
      expected: { host: 'ftp.example.com', port: 21, user: 'scott', password: 'tiger' },
    },
    {
      title: 'an IPv6 literal, brackets removed',
      input: 'ftp://scott:tiger@[2001:db8::5]:2121',
      expected: { host: '2001:db8::5', port: 2121, user: 'scott', password: 'tiger' },
    },
    {
      title: '%-escaped user and password (@ and : inside)',
      input: 'ftp://me%40example.com:p%3Ass%40word@192.0.2.1',
      expected: { host: '192.0.2.1', port: 21, user: 'me@example.com', password: 'p:ss@word' },
    },
    {
      title: 'no password',
      input: 'ftp://scott@192.0.2.1',
      expected: { host: '192.0.2.1', port: 21, user: 'scott', password: '' },
    },
    {
      title: 'no user: anonymous (RFC 1738 3.2.1)',
      input: 'ftp://192.0.2.1',
      expected: { host: '192.0.2.1', port: 21, user: 'anonymous', password: 'ftpmasq-probe@' },
    },
    {
      title: 'the scheme in capitals',
      input: 'FTP://scott:tiger@192.0.2.1',
      expected: { host: '192.0.2.1', port: 21, user: 'scott', password: 'tiger' },
    },
  ];
  for (const { title, input, expected } of cases) {
    it(title, () => {
      expect(parseProbeUrl(input)).toEqual({ ok: true, value: expected });
    });
  }
});

describe('parseProbeUrl refuses', () => {
  const cases: { title: string; input: string; reason: RegExp }[] = [
    { title: 'a bare host', input: '203.0.113.10', reason: /not a URL/ },
    { title: 'the empty string', input: '', reason: /not a URL/ },
    { title: 'another scheme', input: 'http://scott:tiger@203.0.113.10', reason: /scheme must be ftp:, not http:/ },
    { title: 'ftps (TLS is not probed)', input: 'ftps://scott:tiger@203.0.113.10', reason: /scheme must be ftp:/ },
    { title: 'a path', input: 'ftp://scott:tiger@203.0.113.10/pub/file.txt', reason: /no path/ },
    { title: 'a query', input: 'ftp://scott:tiger@203.0.113.10/?type=i', reason: /no query/ },
    { title: 'a fragment', input: 'ftp://scott:tiger@203.0.113.10#x', reason: /no query or fragment/ },
    { title: 'a port above 65535', input: 'ftp://scott:tiger@203.0.113.10:70000', reason: /not a URL/ },
    { title: 'port 0', input: 'ftp://scott:tiger@203.0.113.10:0', reason: /port 0/ },
    { title: 'a bad %-escape', input: 'ftp://scott:ti%zzger@203.0.113.10', reason: /not a URL|bad %-escape/ },
    { title: 'a line break in the password', input: 'ftp://scott:a%0d%0aDELE%20x@203.0.113.10', reason: /line break/ },
    { title: 'a line break in the user', input: 'ftp://sc%0aott:tiger@203.0.113.10', reason: /line break/ },
  ];
  for (const { title, input, reason } of cases) {
    it(title, () => {
      const result = parseProbeUrl(input);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.reason).toMatch(reason);
    });
  }
});

describe('redactUrl', () => {
  const cases: { title: string; input: string; expected: string }[] = [
    { title: 'hides the password', input: 'ftp://scott:tiger@203.0.113.10:21', expected: 'ftp://scott:***@203.0.113.10:21' },
    { title: 'keeps a URL without password', input: 'ftp://scott@203.0.113.10', expected: 'ftp://scott@203.0.113.10' },
    { title: 'keeps a URL without user', input: 'ftp://203.0.113.10:21', expected: 'ftp://203.0.113.10:21' },
    { title: 'hides an escaped password', input: 'ftp://scott:p%40ss@host', expected: 'ftp://scott:***@host' },
    { title: 'hides a password in a non-ftp URL too', input: 'http://scott:tiger@host/x', expected: 'http://scott:***@host/x' },
    { title: 'leaves text that is not a URL', input: 'scott:tiger', expected: 'scott:tiger' },
  ];
  for (const { title, input, expected } of cases) {
    it(title, () => {
      expect(redactUrl(input)).toBe(expected);
    });
  }
});
