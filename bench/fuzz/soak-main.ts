/**
 * `npm run soak -- [--sessions N] [--concurrency N] [--seed S]`: the soak (10,000 sessions by
 * default). Prints the seed first and with every failure; exits 1 when a rule broke.
 */
import { parseArgs } from 'node:util';
import { chooseSeed } from './prng.js';
import { runSoak } from './soak-run.js';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '32' },
    seed: { type: 'string' },
  },
});
const sessions = Number(values.sessions);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(sessions) || sessions < 1 || !Number.isInteger(concurrency) || concurrency < 1 || concurrency > 400) {
  console.error('usage: npm run soak -- [--sessions N (>=1)] [--concurrency N (1-400)] [--seed S]');
  process.exit(2);
}
const seed = chooseSeed(values.seed);
console.log(`soak: seed ${seed} (repeat with: npm run soak -- --seed ${seed} --sessions ${sessions} --concurrency ${concurrency})`);
// 400 ports, clear of the fuzzer's default 27900-27999 and of 27800-27899 for a second fuzzer: at most 400 sessions at once, each holding at most one passive port.
const report = await runSoak({ seed, sessions, concurrency, passivePorts: '27400-27799', log: (line) => console.log(line) });
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
console.log(
  `soak: ${report.sessions} sessions in ${(report.elapsedMs / 1000).toFixed(1)} s (${Object.entries(report.byKind).map(([kind, count]) => `${kind} ${count}`).join(', ')}), ` +
    `${mib(report.bytesChecked)} checksummed; fds ${report.start.fds} -> ${report.end.fds}, heap ${mib(report.start.heapUsedBytes)} -> ${mib(report.end.heapUsedBytes)}, ` +
    `RSS ${mib(report.start.rssBytes)} -> peak ${mib(report.peakRssBytes)}, passive ports in use ${report.end.passivePortsInUse}`,
);
if (report.failures.length > 0) {
  console.error(`soak FAILED with seed ${seed}:\n${report.failures.join('\n')}`);
  process.exit(1);
}
// A hostile session's last socket or timer may outlive the run by seconds: the report is the end.
process.exit(0);
