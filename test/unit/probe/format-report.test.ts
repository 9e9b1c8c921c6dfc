import { describe, expect, it } from 'vitest';
import { diagnoseProbe } from '../../../src/probe/diagnose.js';
import { formatAttempt, formatFeat, formatProbeReport, wrap } from '../../../src/probe/format-report.js';
import type { DataAttempt, ProbeObservations, ProbeRun } from '../../../src/probe/observations.js';

const FIELD_CASE: ProbeObservations = {
  subject: { host: '203.0.113.10', port: 21, user: 'scott' },
  controlAddress: '203.0.113.10',
  localAddress: '203.0.113.2',
  greeting: ['220 ProFTPD Server (ftpmasq e2e legacy server) [10.0.11.251]'],
  login: '230 User scott logged in',
  feat: { code: 211, lines: ['211-Features:', ' EPSV', ' MDTM', ' SIZE', '211 End'] },
  pasv: {
    outcome: 'ok',
    reply: '227 Entering Passive Mode (10,0,11,251,234,112).',
    advertised: { host: '10.0.11.251', port: 60016 },
  },
  dataToAdvertised: { outcome: 'connect-failed', target: { host: '10.0.11.251', port: 60016 }, error: 'ENETUNREACH' },
  dataToControl: { outcome: 'ok', target: { host: '203.0.113.10', port: 60017 }, reply: '226 Transfer complete', bytes: 210 },
  epsv: { outcome: 'ok', reply: '229 Entering Extended Passive Mode (|||60018|)', port: 60018 },
  epsvData: { outcome: 'ok', target: { host: '203.0.113.10', port: 60018 }, reply: '226 Transfer complete', bytes: 210 },
};

function report(run: ProbeRun): string {
  return formatProbeReport(run, diagnoseProbe(run), 'ftp://scott:***@203.0.113.10');
}

describe('formatProbeReport', () => {
  it('the field case: a table row per observation, the verdict, the command line', () => {
    const text = report({ complete: true, observations: FIELD_CASE });
    const lines = text.split('\n');
    expect(lines[0]).toBe('ftpmasq probe ftp://scott:***@203.0.113.10');
    expect(text).toContain('  greeting              220 ProFTPD Server (ftpmasq e2e legacy server) [10.0.11.251]\n');
    expect(text).toContain('  FEAT                  EPSV, MDTM, SIZE\n');
    expect(text).toContain('  PASV                  227 Entering Passive Mode (10,0,11,251,234,112).\n');
    expect(text).toContain(
      '  227 address           10.0.11.251 (private, not routable on the Internet); NOT the control address 203.0.113.10\n',
    );
    expect(text).toContain('  data to 227 address   10.0.11.251:60016  FAILED: ENETUNREACH\n');
    expect(text).toContain('  data to control addr  203.0.113.10:60017  ok (LIST: 226 Transfer complete, 210 bytes)\n');
    expect(text).toMatch(/^verdict: NEEDS FTPMASQ: /m);
    expect(text).toContain(
      '  npx ftpmasq --listen 0.0.0.0:21 --upstream 10.0.11.251:21 --public-address 203.0.113.10 --passive-ports 60000-60999\n',
    );
    expect(text).toContain('--mode rewrite');
    expect(text).toContain('MasqueradeAddress 203.0.113.10');
    // Never the password.
    expect(text).not.toContain('tiger');
  });

  it('the fixed case: FINE and no command line', () => {
    const fixed: ProbeObservations = {
      ...FIELD_CASE,
      pasv: { outcome: 'ok', reply: '227 Entering Passive Mode (203,0,113,10,234,112).', advertised: { host: '203.0.113.10', port: 60016 } },
      dataToAdvertised: { outcome: 'ok', target: { host: '203.0.113.10', port: 60016 }, reply: '226 Transfer complete', bytes: 210 },
      dataToControl: { outcome: 'not-tried', target: { host: '203.0.113.10', port: 60016 }, why: 'the 227 names the control address' },
    };
    const text = report({ complete: true, observations: fixed });
    expect(text).toMatch(/^verdict: FINE: /m);
    expect(text).toContain('  data to control addr  same address as above\n');
    expect(text).not.toContain('npx ftpmasq');
  });

  it('a probe that could not log in', () => {
    const text = report({
      complete: false,
      subject: { host: '203.0.113.10', port: 21, user: 'scott' },
      stage: 'login',
      error: 'PASS was answered 530 Login incorrect.',
      controlAddress: '203.0.113.10',
      greeting: ['220 ProFTPD Server'],
    });
    expect(text).toContain('  failed at login       PASS was answered 530 Login incorrect.\n');
    expect(text).toMatch(/^verdict: INCONCLUSIVE: cannot log in to 203\.0\.113\.10:21 as scott$/m);
  });

  it('indents every line of a multi-line greeting under the value column', () => {
    const text = report({
      complete: true,
      observations: { ...FIELD_CASE, greeting: ['220-Welcome', '220-to the server', '220 ready'] },
    });
    expect(text).toContain(
      '  greeting              220-Welcome\n                        220-to the server\n                        220 ready\n',
    );
  });
});

describe('formatAttempt', () => {
  const cases: { title: string; input: DataAttempt; expected: string }[] = [
    {
      title: 'ok',
      input: { outcome: 'ok', target: { host: '10.0.0.1', port: 60000 }, reply: '226 Done', bytes: 3 },
      expected: '10.0.0.1:60000  ok (LIST: 226 Done, 3 bytes)',
    },
    {
      title: 'connect failed',
      input: { outcome: 'connect-failed', target: { host: '10.0.0.1', port: 60000 }, error: 'ETIMEDOUT (no answer within 3000 ms)' },
      expected: '10.0.0.1:60000  FAILED: ETIMEDOUT (no answer within 3000 ms)',
    },
    {
      title: 'transfer failed',
      input: { outcome: 'transfer-failed', target: { host: '10.0.0.1', port: 60000 }, reply: '425 Unable to build data connection' },
      expected: '10.0.0.1:60000  connected, LIST failed: 425 Unable to build data connection',
    },
    {
      title: 'not tried, with a target',
      input: { outcome: 'not-tried', target: { host: '127.0.0.1', port: 60000 }, why: 'loopback address' },
      expected: '127.0.0.1:60000  not tried: loopback address',
    },
    {
      title: 'not tried, without a target',
      input: { outcome: 'not-tried', target: undefined, why: 'no usable 227' },
      expected: 'not tried: no usable 227',
    },
    {
      title: 'an IPv6 target in brackets',
      input: { outcome: 'ok', target: { host: '2001:db8::5', port: 60000 }, reply: '226 Done', bytes: 0 },
      expected: '[2001:db8::5]:60000  ok (LIST: 226 Done, 0 bytes)',
    },
  ];
  for (const { title, input, expected } of cases) {
    it(title, () => {
      expect(formatAttempt(input)).toBe(expected);
    });
  }
});

describe('formatFeat', () => {
  const cases: { title: string; input: ProbeObservations['feat']; expected: string }[] = [
    { title: 'feature names', input: { code: 211, lines: ['211-Features:', ' EPSV', ' MLST type*;size*;', '211 End'] }, expected: 'EPSV, MLST type*;size*;' },
    { title: 'no features listed', input: { code: 211, lines: ['211 No features'] }, expected: '(none listed)' },
    { title: 'FEAT refused', input: { code: 500, lines: ['500 FEAT not understood'] }, expected: '500 FEAT not understood (no FEAT)' },
    {
      title: "ProFTPD's long list, in rows that fit the value column",
      input: {
        code: 211,
        lines: [
          '211-Features:',
          ' CLNT',
          ' EPRT',
          ' EPSV',
          ' MLST modify*;perm*;size*;type*;unique*;UNIX.group*;UNIX.groupname*;UNIX.mode*;UNIX.owner*;UNIX.ownername*;',
          ' REST STREAM',
          ' SIZE',
          ' TVFS',
          ' UTF8',
          '211 End',
        ],
      },
      expected:
        'CLNT, EPRT, EPSV,\nMLST modify*;perm*;size*;type*;unique*;UNIX.group*;UNIX.groupname*;UNIX.mode*;UNIX.owner*;UNIX.ownername*;,\nREST STREAM, SIZE, TVFS, UTF8',
    },
  ];
  for (const { title, input, expected } of cases) {
    it(title, () => {
      expect(formatFeat(input)).toBe(expected);
    });
  }
});

describe('wrap', () => {
  const word = 'x'.repeat(9);
  const cases: { title: string; text: string; expected: string }[] = [
    { title: 'short text stays on one line', text: 'a short reason', expected: '  - a short reason' },
    {
      title: 'long text breaks between words, with the hanging indent',
      text: Array.from({ length: 12 }, () => word).join(' '),
      expected: `  - ${Array.from({ length: 9 }, () => word).join(' ')}\n    ${Array.from({ length: 3 }, () => word).join(' ')}`,
    },
    { title: 'a word longer than the width is kept whole', text: 'y'.repeat(120), expected: `  - ${'y'.repeat(120)}` },
  ];
  for (const { title, text, expected } of cases) {
    it(title, () => {
      expect(wrap(text, '  - ', '    ')).toBe(expected);
    });
  }
});
