import { describe, expect, it } from 'vitest';
import { DEMO_SUMMARY_PREFIX, type DemoSummary, formatDemoSummary, formatTryItYourself, readMetricSamples } from '../../../src/demo/demo-report.js';

describe('readMetricSamples', () => {
  const text = [
    '# HELP ftpmasq_rewrites_total Replies or commands whose data address or port ftpmasq changed, by kind.',
    '# TYPE ftpmasq_rewrites_total counter',
    'ftpmasq_rewrites_total{kind="pasv"} 3',
    'ftpmasq_rewrites_total{kind="epsv"} 0',
    'ftpmasq_rewrites_total_other 7',
    'ftpmasq_sessions_total 4 1700000000000',
    'ftpmasq_sessions_active 1.5',
    'ftpmasq_broken{kind="x"} not-a-number',
    '',
  ].join('\n');
  const cases: { title: string; name: string; expected: [string, number][] }[] = [
    { title: 'labelled samples', name: 'ftpmasq_rewrites_total', expected: [['{kind="pasv"}', 3], ['{kind="epsv"}', 0]] },
    { title: 'a sample with a timestamp', name: 'ftpmasq_sessions_total', expected: [['', 4]] },
    { title: 'a fractional value', name: 'ftpmasq_sessions_active', expected: [['', 1.5]] },
    { title: 'a value that is not a number', name: 'ftpmasq_broken', expected: [] },
    { title: 'an absent metric', name: 'ftpmasq_nothing', expected: [] },
  ];
  for (const { title, name, expected } of cases) {
    it(title, () => {
      expect([...readMetricSamples(text, name)]).toEqual(expected);
    });
  }
});

const SUMMARY: DemoSummary = {
  status: 'ok',
  server: '127.0.0.1:40001',
  ftpmasq: '127.0.0.1:40002',
  metricsUrl: 'http://127.0.0.1:40003/metrics',
  user: 'scott',
  password: 'tiger',
  privateAddress: '10.0.11.251',
  serverPasv: '227 Entering Passive Mode (10,0,11,251,156,65).',
  clientPasv: '227 Entering Passive Mode (127,0,0,1,234,96).',
  dataTarget: '127.0.0.1:60000',
  file: 'sample.txt',
  serverSize: 12,
  serverSha256: 'ab'.repeat(32),
  size: 12,
  sha256: 'ab'.repeat(32),
  matches: true,
  rewritesPasv: 1,
  rewritesTotal: 1,
  ports: [40001, 40002, 40003],
};

describe('formatDemoSummary', () => {
  it('shows both 227s, the checksum and the counter, and ends with one machine-readable line', () => {
    const text = formatDemoSummary(SUMMARY);
    expect(text).toContain("  server's 227       227 Entering Passive Mode (10,0,11,251,156,65).\n");
    expect(text).toContain("  ftpmasq's 227      227 Entering Passive Mode (127,0,0,1,234,96).\n");
    expect(text).toContain(`12 bytes, sha256 ${'ab'.repeat(32)}\n`);
    expect(text).toContain("matches the server's copy");
    expect(text).toContain('  GET /metrics       ftpmasq_rewrites_total{kind="pasv"} 1\n');
    const machine = text.split('\n').filter((line) => line.startsWith(DEMO_SUMMARY_PREFIX));
    expect(machine).toHaveLength(1);
    expect(JSON.parse((machine[0] ?? '').slice(DEMO_SUMMARY_PREFIX.length))).toEqual(SUMMARY);
  });

  it('says a mismatch and a failure out loud', () => {
    const text = formatDemoSummary({ ...SUMMARY, status: 'failed', matches: false, sha256: 'cd'.repeat(32), problem: 'checksums differ' });
    expect(text).toContain("DOES NOT MATCH the server's copy");
    expect(text).toContain('demo FAILED: checksums differ');
  });
});

describe('formatTryItYourself', () => {
  it('names ftpmasq (never the legacy server) in the curl line, and the metrics URL', () => {
    const text = formatTryItYourself(SUMMARY);
    expect(text).toContain(
      'curl -v --disable-epsv --no-ftp-skip-pasv-ip -o sample.txt ftp://scott:tiger@127.0.0.1:40002/sample.txt',
    );
    expect(text).toContain('curl -s http://127.0.0.1:40003/metrics | grep ftpmasq_rewrites_total');
    expect(text).not.toContain('40001');
  });
});
