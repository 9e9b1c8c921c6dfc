/**
 * The fuzzer of the running proxy: the built CLI with five sites, all with one-second timeouts:
 * `good` (relay mode) in front of the in-process LegacyFtpServer; `hostile` (relay mode) and
 * `rewrite` (rewrite mode, the 227 rewritten to 127.0.0.1) in front of a generated hostile
 * upstream; `ipv6` (relay mode, listening on ::1: EPSV, EPRT |2|::1|, PASV refused) in front of
 * LegacyFtpServer; and `rewrite-good` (rewrite mode) in front of LegacyFtpServer, for the checked
 * downloads only. Each round runs generated hostile client sessions against the first four at
 * once, then proves the process is still whole with fresh, well-formed sessions that download a
 * file and compare its SHA-256: by PASV relayed, by EPSV over IPv6, and by PASV rewritten. At the
 * end every session, passive port and descriptor must have been released. Used by
 * test/integration/fuzz-proxy.test.ts (about 30 s) and `npm run fuzz`.
 */
import { LegacyFtpServer } from '../../src/demo/legacy-ftp-server.js';
import { RawFtpClient, sha256 } from '../../test/helpers/raw-ftp-client.js';
import { ScriptedUpstream } from '../../test/helpers/scripted-upstream.js';
import { generatePlan, runClientPlan, SessionHangError } from './hostile-client.js';
import { hostileUpstreamScript } from './hostile-upstream.js';
import { Prng } from './prng.js';
import { cliSupportsFlag, ProxyProcess, type ProxySample } from './proxy-process.js';

/**
 * Every session timeout of both sites, short so a fuzzed session that nobody closes is ended by
 * the proxy within seconds: the bound a session has to end within follows from it.
 */
const SITE_TIMEOUT = '1s';
/**
 * The longest a session left open by the client may stay open: the one-second timeouts, the
 * proxy's close grace after an EOF (2 s), a timer's slack, and a loaded CI machine's scheduling.
 */
export const SESSION_CLOSE_BOUND_MS = 8000;

export interface FuzzOptions {
  readonly seed: number;
  /** The run ends after the first round that finishes past this. */
  readonly durationMs: number;
  readonly sessionsPerRound: number;
  /** The proxy's resident set must stay under this after every round. */
  readonly rssLimitBytes: number;
  /** Three disjoint `low-high` ranges, one per relay-mode site (a rewrite-mode site takes no port). */
  readonly passivePorts: { readonly good: string; readonly hostile: string; readonly ipv6: string };
  readonly log?: (line: string) => void;
}

export interface FuzzReport {
  readonly seed: number;
  readonly rounds: number;
  readonly sessions: number;
  readonly closedByProxy: number;
  readonly closedByClient: number;
  /** The longest wait from a client's last action to the proxy's close. */
  readonly slowestCloseMs: number;
  readonly bytesSent: number;
  /** Every checked download (CHECKED_DOWNLOADS.length after the start and after each round). */
  readonly checkedDownloads: number;
  readonly start: ProxySample;
  readonly end: ProxySample;
  readonly peakRssBytes: number;
  /** Every broken rule, each naming the round and the session's seed. */
  readonly failures: readonly string[];
  /** Whether the build has --reply-timeout; without it, see `unansweredHangs`. */
  readonly replyTimeout: boolean;
  /**
   * Sessions still open past the bound on a build without --reply-timeout: the proxy waits for a
   * reply the upstream never sends (issue 11, "Lines the server silently ignores"). Reported,
   * not failed, until that build arrives; with it, such a hang is a failure.
   */
  readonly unansweredHangs: readonly string[];
}

const MIB = 1024 * 1024;

/** The well-formed downloads after every round: relayed PASV, relayed EPSV over IPv6, rewritten PASV. */
export const CHECKED_DOWNLOADS = [
  { site: 'good', mode: 'pasv' },
  { site: 'ipv6', mode: 'epsv' },
  { site: 'rewrite-good', mode: 'pasv' },
] as const;

/** The sites the generated sessions go to, in turn. */
const FUZZED_SITES = ['good', 'hostile', 'rewrite', 'ipv6'] as const;

async function checkedDownload(proxy: ProxyProcess, content: Buffer, site: string, mode: 'pasv' | 'epsv'): Promise<void> {
  const client = await RawFtpClient.open(proxy.site(site));
  try {
    await client.login();
    const result = await client.retrieve('sample.bin', { mode });
    if (result.final.code !== 226 || sha256(result.data) !== sha256(content)) {
      throw new Error(`download (site ${site}, ${mode}): final ${result.final.code}, ${result.data.length} of ${content.length} bytes, checksum ${sha256(result.data) === sha256(content) ? 'right' : 'wrong'}\n${client.transcript()}`);
    }
    await client.quit();
  } finally {
    await client.close();
  }
}

/** Every checked download once; the failures, each naming its site and mode. */
async function checkedDownloads(proxy: ProxyProcess, content: Buffer): Promise<{ done: number; failures: string[] }> {
  let done = 0;
  const failures: string[] = [];
  for (const { site, mode } of CHECKED_DOWNLOADS) {
    try {
      await checkedDownload(proxy, content, site, mode);
      done++;
    } catch (error) {
      failures.push(error instanceof Error ? error.message : String(error));
    }
  }
  return { done, failures };
}

/** Samples until `condition` holds or `timeoutMs` passes; the last sample and whether it held. */
export async function sampleUntil(proxy: ProxyProcess, condition: (sample: ProxySample) => boolean, timeoutMs: number): Promise<{ sample: ProxySample; held: boolean }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sample = await proxy.sample();
    if (condition(sample)) return { sample, held: true };
    if (Date.now() > deadline) return { sample, held: false };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const log = options.log ?? (() => undefined);
  const prng = new Prng(options.seed);
  const content = prng.bytes(256 * 1024);
  const legacy = new LegacyFtpServer({ host: '127.0.0.1', files: new Map([['sample.bin', content]]) });
  const legacyEndpoint = await legacy.listen();
  const hostile = await ScriptedUpstream.start(hostileUpstreamScript(prng.fork(), { maxReplyBytes: 4 * MIB, commandWaitMs: 5000 }));
  const replyTimeout = cliSupportsFlag('--reply-timeout');
  const timeouts = {
    ...(replyTimeout ? { replyTimeout: SITE_TIMEOUT } : {}),
    greetingTimeout: SITE_TIMEOUT,
    loginTimeout: SITE_TIMEOUT,
    idleTimeout: SITE_TIMEOUT,
    dataStallTimeout: SITE_TIMEOUT,
    passiveTimeout: SITE_TIMEOUT,
    upstreamConnectTimeout: SITE_TIMEOUT,
  };
  const legacyAddress = `127.0.0.1:${legacyEndpoint.port}`;
  const rewrite = { mode: 'rewrite', publicAddress: '127.0.0.1' };
  const proxy = await ProxyProcess.start([
    { name: 'good', listen: '127.0.0.1:0', upstream: legacyAddress, passivePorts: options.passivePorts.good, ...timeouts },
    { name: 'hostile', listen: '127.0.0.1:0', upstream: hostile.address, passivePorts: options.passivePorts.hostile, ...timeouts },
    { name: 'rewrite', listen: '127.0.0.1:0', upstream: hostile.address, ...rewrite, ...timeouts },
    { name: 'ipv6', listen: '[::1]:0', upstream: legacyAddress, passivePorts: options.passivePorts.ipv6, ...timeouts },
    { name: 'rewrite-good', listen: '127.0.0.1:0', upstream: legacyAddress, ...rewrite, ...timeouts },
  ]);
  const failures: string[] = [];
  const unansweredHangs: string[] = [];
  let rounds = 0;
  let sessions = 0;
  let closedByProxy = 0;
  let closedByClient = 0;
  let slowestCloseMs = 0;
  let bytesSent = 0;
  let checkedCount = 0;
  let peakRssBytes = 0;
  try {
    const first = await checkedDownloads(proxy, content);
    checkedCount += first.done;
    if (first.failures.length > 0) throw new Error(`before any fuzzing: ${first.failures.join('\n')}`);
    const { sample: start } = await sampleUntil(proxy, (sample) => sample.sessionsActive === 0, 5000);
    peakRssBytes = start.rssBytes;
    log(`seed ${options.seed}: proxy pid ${proxy.pid}, ${start.fds} fds, RSS ${(start.rssBytes / MIB).toFixed(1)} MiB at the start`);
    const began = Date.now();
    while (failures.length === 0 && (rounds === 0 || Date.now() - began < options.durationMs)) {
      rounds++;
      const runs = Array.from({ length: options.sessionsPerRound }, (_, index) => {
        const sessionPrng = prng.fork();
        const site = FUZZED_SITES[index % FUZZED_SITES.length] ?? 'good';
        const label = `round ${rounds} session ${index} (site ${site}, session seed ${sessionPrng.seed})`;
        const plan = generatePlan(sessionPrng);
        return runClientPlan(proxy.site(site), plan, sessionPrng, SESSION_CLOSE_BOUND_MS).then(
          (result) => {
            sessions++;
            bytesSent += result.bytesSent;
            if (result.endedBy === 'proxy') closedByProxy++;
            else closedByClient++;
            slowestCloseMs = Math.max(slowestCloseMs, result.closeAfterMs);
          },
          (error: unknown) => {
            sessions++;
            const message = error instanceof Error ? error.message : String(error);
            if (error instanceof SessionHangError && !replyTimeout) unansweredHangs.push(`${label}: ${message}`);
            else failures.push(`${label}: ${error instanceof SessionHangError ? '' : 'client error: '}${message}`);
          },
        );
      });
      await Promise.all(runs);
      if (!proxy.running()) {
        failures.push(`round ${rounds}: the proxy exited (${proxy.exitDescription()})`);
        break;
      }
      const checked = await checkedDownloads(proxy, content);
      checkedCount += checked.done;
      for (const failure of checked.failures) failures.push(`round ${rounds}: the well-formed session failed: ${failure}`);
      const { rssBytes: rss, heapUsedBytes: heap, sessionsActive } = await proxy.sample();
      peakRssBytes = Math.max(peakRssBytes, rss);
      if (rss > options.rssLimitBytes) failures.push(`round ${rounds}: RSS ${(rss / MIB).toFixed(1)} MiB over the ${(options.rssLimitBytes / MIB).toFixed(0)} MiB bound`);
      if (proxy.stderrLines.length > 0) failures.push(`round ${rounds}: stderr: ${proxy.stderrLines.slice(0, 20).join('\n')}`);
      if (proxy.alarmingRecords.length > 0) failures.push(`round ${rounds}: log: ${proxy.alarmingRecords.slice(0, 5).map((record) => JSON.stringify(record)).join('\n')}`);
      log(`round ${rounds}: ${sessions} sessions, RSS ${(rss / MIB).toFixed(1)} MiB, heap ${(heap / MIB).toFixed(1)} MiB, ${sessionsActive} sessions open, ${closedByProxy} closed by the proxy (slowest ${slowestCloseMs} ms)`);
    }
    if (!replyTimeout && unansweredHangs.length > 0) {
      // Without --reply-timeout a session whose upstream never answers lives as long as that
      // upstream: end the upstreams so the release check below measures everything else.
      await legacy.close();
      await hostile.close();
    }
    // Everything a fuzzed session held must be given back: sessions, ports, descriptors.
    const { sample: end, held: released } = await sampleUntil(
      proxy,
      (sample) => sample.sessionsActive === 0 && sample.passivePortsInUse === 0 && sample.fds <= start.fds,
      15_000,
    );
    if (!released) {
      failures.push(`after ${rounds} rounds: ${end.sessionsActive} sessions, ${end.passivePortsInUse} passive ports, ${end.fds} fds (${start.fds} at the start) still held`);
    }
    return { seed: options.seed, rounds, sessions, closedByProxy, closedByClient, slowestCloseMs, bytesSent, checkedDownloads: checkedCount, start, end, peakRssBytes, failures, replyTimeout, unansweredHangs };
  } finally {
    await proxy.stop();
    await hostile.close();
    await legacy.close();
  }
}
