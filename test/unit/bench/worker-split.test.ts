/** The per-worker split of a --workers measurement, read from the workers' pino lines. */
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { WorkerSplitWindow, dataConnectionsByPid } from '../../../bench/lib/worker-split.js';

const closed = (pid: number, bytesToClient: number): string =>
  JSON.stringify({ level: 30, pid, worker: pid === 101 ? 0 : 1, session: 's', mode: 'passive', reason: 'complete', bytesToClient, bytesToServer: 0, msg: 'data connection closed' });

describe('dataConnectionsByPid', () => {
  const cases = [
    {
      title: 'counts and sums per pid',
      input: [closed(101, 10), closed(102, 5), closed(101, 7)].join('\n'),
      expected: [
        [101, { dataConnections: 2, bytesToClient: 17 }],
        [102, { dataConnections: 1, bytesToClient: 5 }],
      ],
    },
    {
      title: 'other lines, a torn last line and lines without a numeric pid are skipped',
      input: [
        JSON.stringify({ pid: 101, msg: 'session start' }),
        closed(102, 3),
        JSON.stringify({ pid: '101', bytesToClient: 1, msg: 'data connection closed' }),
        closed(101, 4).slice(0, 30),
      ].join('\n'),
      expected: [[102, { dataConnections: 1, bytesToClient: 3 }]],
    },
    { title: 'an empty log', input: '', expected: [] },
  ];
  it.each(cases)('$title', ({ input, expected }) => {
    expect([...dataConnectionsByPid(input)]).toEqual(expected);
  });
});

describe('WorkerSplitWindow', () => {
  it('reads only the lines written after it opened; a process without workers gives NaN, and its lines count as stray', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fmq-split-'));
    try {
      const log = join(dir, 'ftpmasq.log');
      writeFileSync(log, `${closed(999, 1)}\n`);
      const window = new WorkerSplitWindow(process.pid, log);
      appendFileSync(log, `${closed(101, 10)}\n${closed(102, 30)}\n`);
      const figures = window.close();
      expect(figures['workerDataConnectionsMin']).toBeNaN();
      expect(figures['workerBytesShareMax']).toBeNaN();
      expect(figures['strayDataConnections']).toBe(2);
      expect(figures['primaryCpuSeconds']).toBeGreaterThanOrEqual(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
