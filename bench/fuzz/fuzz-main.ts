/**
 * `npm run fuzz -- [--minutes N] [--seed S] [--sessions N] [--rss-mib N] [--passive-ports LOW-HIGH]`: the fuzzer of the
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
    // Two runs at once need two ranges; each is split in three, one part per relay-mode site.
    'passive-ports': { type: 'string', default: '27900-27999' },
  },
});
const minutes = Number(values.minutes);
const sessionsPerRound = Number(values.sessions);
const rssMib = Number(values['rss-mib']);
if (!(minutes > 0) || !Number.isInteger(sessionsPerRound) || sessionsPerRound < 1 || !(rssMib > 0)) {
  console.error('usage: npm run fuzz -- [--minutes N (>0)] [--seed S] [--sessions N (per round, >=1)] [--rss-mib N] [--passive-ports LOW-HIGH]');
  process.exit(2);
}
const range = /^(\d+)-(\d+)$/.exec(values['passive-ports']);
const low = Number(range?.[1]);
const high = Number(range?.[2]);
if (range === null || !(low >= 1024 && high <= 65535 && high - low >= 5)) {
  console.error(`--passive-ports: expected LOW-HIGH (1024-65535, at least 6 ports), got ${values['passive-ports']}`);
  process.exit(2);
}
const third = Math.floor((high - low + 1) / 3);
const seed = chooseSeed(values.seed);
console.log(`fuzz: seed ${seed} (repeat with: npm run fuzz -- --seed ${seed} --minutes ${minutes})`);
const report = await runFuzz({
  seed,
  durationMs: minutes * 60_000,
  sessionsPerRound,
  rssLimitBytes: rssMib * 1024 * 1024,
  passivePorts: { good: `${low}-${low + third - 1}`, hostile: `${low + third}-${low + 2 * third - 1}`, ipv6: `${low + 2 * third}-${high}` },
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
// A hostile session's last socket or timer may outlive the run by seconds: the report is the end.
process.exit(0);
