/**
 * The soak, CI size: 1,000 sessions through the built CLI in front of LegacyFtpServer, a seeded mix
 * of checksummed transfers (PASV, EPSV, PORT, EPRT; up and down), aborts, resets and idle
 * timeouts; at the end the proxy's descriptors, passive ports, sessions and heap are back at their
 * start level. `npm run soak` runs 10,000 (docs/TESTING.md). SOAK_SEED=S repeats a run's inputs.
 */
import { describe, expect, it } from 'vitest';
import { chooseSeed } from '../../bench/fuzz/prng.js';
import { HEAP_GROWTH_LIMIT_BYTES, runSoak } from '../../bench/fuzz/soak-run.js';

const SESSIONS = 1000;

describe('soak', () => {
  it(
    `${SESSIONS} sessions of transfers, aborts, kills and timeouts leave no descriptor, port, session or heap behind`,
    async () => {
      const seed = chooseSeed(process.env['SOAK_SEED']);
      // Eight at a time: two loaded cores finish in about 30 s; no assertion on time.
      const report = await runSoak({ seed, sessions: SESSIONS, concurrency: 8, passivePorts: '27100-27199' });
      const summary = `soak seed ${seed} (repeat: SOAK_SEED=${seed} npx vitest run test/integration/soak-sessions.test.ts)`;
      expect(report.failures, summary).toEqual([]);
      expect(report.sessions, summary).toBe(SESSIONS);
      for (const kind of ['download', 'upload', 'abort', 'kill', 'timeout'] as const) expect(report.byKind[kind], `${summary}: ${kind}`).toBeGreaterThan(0);
      expect(report.bytesChecked, summary).toBeGreaterThan(0);
      expect(report.end.fds, summary).toBeLessThanOrEqual(report.start.fds);
      expect(report.end.passivePortsInUse, summary).toBe(0);
      expect(report.end.sessionsActive, summary).toBe(0);
      expect(report.end.heapUsedBytes - report.start.heapUsedBytes, summary).toBeLessThanOrEqual(HEAP_GROWTH_LIMIT_BYTES);
    },
    120_000,
  );
});
