/**
 * The soak: many sessions against the built CLI in front of LegacyFtpServer, a seeded mix of
 * checksummed transfers (passive and active, PASV/EPSV/PORT/EPRT, downloads and uploads), aborts
 * (the client closes mid-download), kills (the client resets mid-download) and timeouts (a
 * session left idle past the site's idle timeout must get 421 and a close). At the end the
 * proxy's descriptors, passive ports in use, sessions and heap must be back at their start
 * level. Used by test/integration/soak-sessions.test.ts (1,000 sessions) and `npm run soak`
 * (10,000 by default).
 */
import { LegacyFtpServer } from '../../src/demo/legacy-ftp-server.js';
import { RawFtpClient, sha256, type TransferMode } from '../../test/helpers/raw-ftp-client.js';
import { sampleUntil } from './fuzz-run.js';
import { Prng } from './prng.js';
import { ProxyProcess, type ProxySample } from './proxy-process.js';

/** Short, so timeout sessions cost little; long enough that a loaded machine never idles out a transfer's setup. */
const IDLE_TIMEOUT_MS = 2000;
/** How long a timeout session may wait for its 421 and close, past the idle timeout. */
const TIMEOUT_SLACK_MS = 5000;
const MIB = 1024 * 1024;
/**
 * The heap may end this much above its start. Garbage not yet collected accounts for some (the
 * CLI cannot be told to collect); a leak of 5 KiB per session passes 1,000 sessions but fails
 * 10,000, and one of 50 KiB fails both.
 */
export const HEAP_GROWTH_LIMIT_BYTES = 48 * MIB;

export type SoakKind = 'download' | 'upload' | 'abort' | 'kill' | 'timeout';
const KIND_WEIGHTS: ReadonlyArray<readonly [SoakKind, number]> = [
  ['download', 35],
  ['upload', 25],
  ['abort', 15],
  ['kill', 15],
  ['timeout', 10],
];
const MODES: readonly TransferMode[] = ['pasv', 'epsv', 'port', 'eprt'];

export interface SoakOptions {
  readonly seed: number;
  readonly sessions: number;
  readonly concurrency: number;
  readonly passivePorts: string;
  readonly log?: (line: string) => void;
}

export interface SoakReport {
  readonly seed: number;
  readonly sessions: number;
  readonly byKind: Readonly<Record<SoakKind, number>>;
  readonly bytesChecked: number;
  readonly elapsedMs: number;
  readonly start: ProxySample;
  readonly end: ProxySample;
  readonly peakRssBytes: number;
  readonly failures: readonly string[];
}

function pickKind(prng: Prng): SoakKind {
  let roll = prng.int(1, KIND_WEIGHTS.reduce((sum, [, weight]) => sum + weight, 0));
  for (const [kind, weight] of KIND_WEIGHTS) {
    roll -= weight;
    if (roll <= 0) return kind;
  }
  return 'download';
}

async function waitForBytes(read: () => number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (read() === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
}

/** One session of `kind`; resolves with the bytes whose checksum was compared, throws on a broken rule. */
async function runSession(proxy: ProxyProcess, legacy: LegacyFtpServer, files: { small: Buffer }, kind: SoakKind, prng: Prng, index: number): Promise<number> {
  const client = await RawFtpClient.open(proxy.site('soak'));
  try {
    await client.login();
    const mode = prng.pick(MODES);
    switch (kind) {
      case 'download': {
        const result = await client.retrieve('small.bin', { mode });
        if (result.final.code !== 226 || sha256(result.data) !== sha256(files.small)) {
          throw new Error(`${mode} download: ${result.final.code}, ${result.data.length} bytes, checksum ${sha256(result.data) === sha256(files.small) ? 'right' : 'wrong'}\n${client.transcript()}`);
        }
        await client.quit();
        return result.data.length;
      }
      case 'upload': {
        const name = `up-${index}.bin`;
        const content = prng.bytes(prng.int(0, 64 * 1024));
        const result = await client.store(name, content, { mode });
        const stored = legacy.files.get(name);
        legacy.files.delete(name);
        if (result.final.code !== 226 || stored === undefined || sha256(stored) !== sha256(content)) {
          throw new Error(`${mode} upload: ${result.final.code}, ${stored?.length ?? 'no'} of ${content.length} bytes stored\n${client.transcript()}`);
        }
        await client.quit();
        return content.length;
      }
      case 'abort':
      case 'kill': {
        const target = prng.chance(0.5) ? await client.pasv() : await client.epsv();
        const data = await client.connectData(target);
        client.send('RETR big.bin');
        await client.expectReply(150);
        await waitForBytes(() => data.bytesReceived, 5000);
        if (kind === 'kill') {
          client.socket.resetAndDestroy();
          data.socket.resetAndDestroy();
        }
        return 0;
      }
      case 'timeout': {
        // Nothing more from the client: the proxy must say 421 and close within its idle timeout.
        await client.expectReply(421, IDLE_TIMEOUT_MS + TIMEOUT_SLACK_MS);
        await client.waitForClose(TIMEOUT_SLACK_MS);
        return 0;
      }
    }
  } finally {
    await client.close();
  }
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined);
  const prng = new Prng(options.seed);
  const files = { small: prng.bytes(64 * 1024), big: prng.bytes(2 * MIB) };
  const legacy = new LegacyFtpServer({ host: '127.0.0.1', files: new Map([['small.bin', files.small], ['big.bin', files.big]]) });
  const legacyEndpoint = await legacy.listen();
  const proxy = await ProxyProcess.start(
    [{ name: 'soak', listen: '127.0.0.1:0', upstream: `127.0.0.1:${legacyEndpoint.port}`, passivePorts: options.passivePorts, idleTimeout: `${IDLE_TIMEOUT_MS}ms` }],
    // Info: the ready record names the listener; the lines per session are read and dropped.
    { logLevel: 'info' },
  );
  const failures: string[] = [];
  const byKind: Record<SoakKind, number> = { download: 0, upload: 0, abort: 0, kill: 0, timeout: 0 };
  let bytesChecked = 0;
  let peakRssBytes = 0;
  try {
    // A warm-up session, so lazily loaded code and the pools are in the start level.
    await runSession(proxy, legacy, files, 'download', prng.fork(), -1);
    const { sample: start } = await sampleUntil(proxy, (sample) => sample.sessionsActive === 0, 5000);
    peakRssBytes = start.rssBytes;
    log(`seed ${options.seed}: proxy pid ${proxy.pid}, ${start.fds} fds, heap ${(start.heapUsedBytes / MIB).toFixed(1)} MiB, RSS ${(start.rssBytes / MIB).toFixed(1)} MiB at the start`);
    const began = Date.now();
    const plans = Array.from({ length: options.sessions }, () => {
      const sessionPrng = prng.fork();
      return { kind: pickKind(sessionPrng), prng: sessionPrng };
    });
    let next = 0;
    let done = 0;
    const worker = async (): Promise<void> => {
      while (next < plans.length && failures.length < 20) {
        const index = next++;
        const plan = plans[index];
        if (plan === undefined) return;
        try {
          // Awaited first: `bytesChecked += await ...` would read the total before the wait and lose the other workers' bytes.
          const bytes = await runSession(proxy, legacy, files, plan.kind, plan.prng, index);
          bytesChecked += bytes;
          byKind[plan.kind]++;
        } catch (error) {
          failures.push(`session ${index} (${plan.kind}, session seed ${plan.prng.seed}): ${error instanceof Error ? error.message : String(error)}`);
        }
        done++;
        if (done % 1000 === 0) {
          const rss = proxy.rssBytes();
          peakRssBytes = Math.max(peakRssBytes, rss);
          log(`${done} sessions, ${Math.round((Date.now() - began) / 1000)} s, RSS ${(rss / MIB).toFixed(1)} MiB, ${proxy.fdCount()} fds`);
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
    const elapsedMs = Date.now() - began;
    if (!proxy.running()) failures.push(`the proxy exited (${proxy.exitDescription()})`);
    const { sample: end, held } = await sampleUntil(
      proxy,
      (sample) => sample.sessionsActive === 0 && sample.passivePortsInUse === 0 && sample.fds <= start.fds && sample.heapUsedBytes <= start.heapUsedBytes + HEAP_GROWTH_LIMIT_BYTES,
      15_000,
    );
    peakRssBytes = Math.max(peakRssBytes, end.rssBytes);
    if (!held) {
      failures.push(
        `not back at the start level: ${end.sessionsActive} sessions, ${end.passivePortsInUse} passive ports, ${end.fds} fds (${start.fds} at the start), heap ${(end.heapUsedBytes / MIB).toFixed(1)} MiB (${(start.heapUsedBytes / MIB).toFixed(1)} at the start)`,
      );
    }
    if (proxy.stderrLines.length > 0) failures.push(`stderr: ${proxy.stderrLines.slice(0, 20).join('\n')}`);
    if (proxy.alarmingRecords.length > 0) failures.push(`log: ${proxy.alarmingRecords.slice(0, 5).map((record) => JSON.stringify(record)).join('\n')}`);
    const sessions = Object.values(byKind).reduce((sum, count) => sum + count, 0);
    return { seed: options.seed, sessions, byKind, bytesChecked, elapsedMs, start, end, peakRssBytes, failures };
  } finally {
    await proxy.stop();
    await legacy.close();
  }
}
