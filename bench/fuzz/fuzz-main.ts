/**
 * `npm run fuzz -- [--minutes N] [--seed S] [--sessions N] [--rss-mib N]`: the fuzzer of the
 * running proxy for as long as asked (default 5 minutes). Prints the seed first and with every
 * failure; `--seed S` repeats a run's inputs. Exits 1 when a rule broke.
 */
import { parseArgs } from 'node:util';
import { runFuzz } from './fuzz-run.js';
import { chooseSeed } from './prng.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    seed: { type: 'string' },
    sessions: { type: 'string', default: '40' },
    'rss-mib': { type: 'string', default: '300' },
  },
});
const minutes = Number(values.minutes);
const sessionsPerRound = Number(values.sessions);
const rssMib = Number(values['rss-mib']);
if (!(minutes > 0) || !Number.isInteger(sessionsPerRound) || sessionsPerRound < 1 || !(rssMib > 0)) {
  console.error('usage: npm run fuzz -- [--minutes N (>0)] [--seed S] [--sessions N (per round, >=1)] [--rss-mib N]');
  process.exit(2);
}
const seed = chooseSeed(values.seed);
console.log(`fuzz: seed ${seed} (repeat with: npm run fuzz -- --seed ${seed} --minutes ${minutes})`);
const report = await runFuzz({
  seed,
  durationMs: minutes * 60_000,
  sessionsPerRound,
  rssLimitBytes: rssMib * 1024 * 1024,
  passivePorts: { good: '27900-27949', hostile: '27950-27999' },
  log: (line) => console.log(line),
});
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
console.log(
  `fuzz: ${report.rounds} rounds, ${report.sessions} sessions (${report.closedByProxy} closed by the proxy, slowest ${report.slowestCloseMs} ms; ${report.closedByClient} by the client), ` +
    `${report.checkedDownloads} checked downloads, RSS ${mib(report.start.rssBytes)} -> peak ${mib(report.peakRssBytes)}, fds ${report.start.fds} -> ${report.end.fds}`,
);
if (report.unansweredHangs.length > 0) {
  console.log(`fuzz: this build has no --reply-timeout; ${report.unansweredHangs.length} sessions waited past the bound for a reply the upstream never sent:\n${report.unansweredHangs.join('\n')}`);
}
if (report.failures.length > 0) {
  console.error(`fuzz FAILED with seed ${seed}:\n${report.failures.join('\n')}`);
  process.exit(1);
}
