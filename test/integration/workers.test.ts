/**
 * `--workers 2` on the built CLI (issue 14, item 5): the primary forks two workers sharing the
 * control listener; each owns one slice of the passive range and advertises only its ports.
 * Sessions land on both, every download is checksummed, /metrics sums both workers, SIGHUP
 * reloads both (a bad file is counted once), SIGTERM drains a transfer in each and exits 0, and a
 * killed worker is replaced.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI_PATH, type LocalFtpmasq, startLocalFtpmasq } from '../helpers/ftpmasq-process.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { type Endpoint, RawFtpClient } from '../helpers/raw-ftp-client.js';
import { beginDownload, httpGet, patternedFile, seriesValue, sha256, trickleScript } from './support/daemon-fixtures.js';
import { useSpawnedCli } from './support/spawned-cli.js';
import { type StartedWorkers, waitForTwoWorkers } from './support/workers-cli.js';

// This file's passive ranges: 29800-29899.
const { scripted } = createProxyHarness({ passivePorts: '29800-29809' });

const SMALL_FILE = patternedFile(64 * 1024, 5);
const SLOW_FILE = patternedFile(30 * 16_384, 9);
const FILES = new Map([
  ['small.bin', SMALL_FILE],
  ['slow.bin', SLOW_FILE],
]);
/** small.bin in one chunk; slow.bin in about 1.8 s. */
const TRICKLE = { chunkBytes: 16_384, gapMs: 60 };
const EXIT_TIMEOUT_MS = 15_000;

let proxy: LocalFtpmasq | undefined;
const { clients, configFile } = useSpawnedCli('fmq-workers-', { workers: '2' }, () => {
  const taken = proxy;
  proxy = undefined;
  return taken;
});

async function startWorkers(path: string): Promise<StartedWorkers> {
  proxy = await startLocalFtpmasq(['--config', path]);
  return waitForTwoWorkers(proxy);
}

async function openLoggedIn(endpoint: Endpoint): Promise<RawFtpClient> {
  const client = await RawFtpClient.open(endpoint);
  clients.push(client);
  await client.login();
  return client;
}

/** Which worker's slice a passive port is in, for a range split in two. */
function sliceOf(port: number, low: number, high: number): number {
  expect(port).toBeGreaterThanOrEqual(low);
  expect(port).toBeLessThanOrEqual(high);
  return port <= low + Math.floor((high - low) / 2) ? 0 : 1;
}

async function readyWorkerPids(): Promise<Map<number, number>> {
  const pids = new Map<number, number>();
  for (const record of proxy?.logRecords ?? []) {
    if (record['msg'] === 'ftpmasq ready' && typeof record['worker'] === 'number' && typeof record['pid'] === 'number') {
      pids.set(record['worker'], record['pid']);
    }
  }
  return pids;
}

/** Opens sessions until one of them is served by each worker (round robin: two in a row, in practice). */
async function oneSessionPerWorker(control: Endpoint, low: number, high: number): Promise<Map<number, RawFtpClient>> {
  const byWorker = new Map<number, RawFtpClient>();
  for (let attempt = 0; attempt < 10 && byWorker.size < 2; attempt++) {
    const client = await openLoggedIn(control);
    const probe = await client.pasv();
    const slice = sliceOf(probe.port, low, high);
    if (!byWorker.has(slice)) byWorker.set(slice, client);
  }
  expect(byWorker.size).toBe(2);
  return byWorker;
}

describe('--workers 2', () => {
  it('spreads 20 sessions over both workers, each advertising only its slice; every download intact; /metrics sums both', async () => {
    const upstream = await scripted(trickleScript(FILES, TRICKLE));
    // 25 ports a worker: every one of 20 parallel sessions gets a port whichever worker serves it.
    const started = await startWorkers(configFile({ upstream: upstream.address, passivePorts: '29850-29899' }));
    expect(await readyWorkerPids()).toHaveProperty('size', 2);
    const slicesSeen = new Map<number, number>();
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        const client = await openLoggedIn(started.control);
        const download = await beginDownload(client, 'small.bin');
        const slice = sliceOf(download.passivePort, 29850, 29899);
        slicesSeen.set(slice, (slicesSeen.get(slice) ?? 0) + 1);
        const { content, finalCode } = await download.finished;
        expect(finalCode).toBe(226);
        expect(sha256(content)).toBe(sha256(SMALL_FILE));
        await client.close();
      }),
    );
    // Round robin hands each connection to the next worker that is free, so not strictly in turn.
    expect(slicesSeen.get(0)).toBeGreaterThan(0);
    expect(slicesSeen.get(1)).toBeGreaterThan(0);
    expect((slicesSeen.get(0) ?? 0) + (slicesSeen.get(1) ?? 0)).toBe(20);

    const exposition = (await httpGet(started.metrics, '/metrics')).body;
    expect(seriesValue(exposition, 'ftpmasq_sessions_total{site="default"}')).toBe(20);
    // Process-wide gauges are merged, not summed: 1 when every worker is ready, one build.
    expect(seriesValue(exposition, 'ftpmasq_ready')).toBe(1);
    // Up when every worker reached the upstream: the minimum, not the sum (which said 2).
    expect(seriesValue(exposition, 'ftpmasq_upstream_up{site="default"}')).toBe(1);
    expect(exposition).toMatch(/^ftpmasq_build_info\{[^}]*\} 1$/m);
    const readyz = await httpGet(started.metrics, '/readyz');
    expect(readyz.status).toBe(200);
    // One process's shape: why first, a line per worker, the configuration last.
    expect(readyz.body).toMatch(/^ready\nworker 0 \(pid \d+\): ready\nworker 1 \(pid \d+\): ready\nconfig: [0-9a-f]{12}\n$/);
  });

  it('SIGHUP reloads both workers; an invalid file leaves both on the old one and counts one failure', async () => {
    const upstream = await scripted(trickleScript(FILES, TRICKLE));
    const path = configFile({ upstream: upstream.address, passivePorts: '29810-29819' });
    const started = await startWorkers(path);

    configFile({ upstream: 'nowhere', passivePorts: '29820-29829' });
    proxy?.signal('SIGHUP');
    await proxy?.waitForRecord((record) => String(record['msg']).startsWith('config reload failed'), 5000);
    const afterBad = (await httpGet(started.metrics, '/metrics')).body;
    expect(seriesValue(afterBad, 'ftpmasq_config_reloads_total{result="failure"}')).toBe(1);
    const oldSessions = await oneSessionPerWorker(started.control, 29810, 29819);
    expect(oldSessions.size).toBe(2);

    configFile({ upstream: upstream.address, passivePorts: '29820-29829' });
    proxy?.signal('SIGHUP');
    await proxy?.waitForRecord((record) => record['msg'] === 'config reloaded' && record['worker'] === 0, 5000);
    await proxy?.waitForRecord((record) => record['msg'] === 'config reloaded' && record['worker'] === 1, 5000);
    const afterGood = (await httpGet(started.metrics, '/metrics')).body;
    expect(seriesValue(afterGood, 'ftpmasq_config_reloads_total{result="success"}')).toBe(2);
    expect(seriesValue(afterGood, 'ftpmasq_config_reloads_total{result="failure"}')).toBe(1);
    const fresh = await oneSessionPerWorker(started.control, 29820, 29829);
    for (const client of fresh.values()) {
      const download = await beginDownload(client, 'small.bin');
      expect(sha256((await download.finished).content)).toBe(sha256(SMALL_FILE));
    }
  });

  it('SIGTERM drains a running download in each worker, then the primary exits 0', async () => {
    const upstream = await scripted(trickleScript(FILES, TRICKLE));
    const started = await startWorkers(configFile({ upstream: upstream.address, passivePorts: '29830-29839' }));
    const sessions = await oneSessionPerWorker(started.control, 29830, 29839);
    const downloads = await Promise.all([...sessions.values()].map((client) => beginDownload(client, 'slow.bin')));
    expect(new Set(downloads.map((download) => sliceOf(download.passivePort, 29830, 29839)))).toEqual(new Set([0, 1]));

    proxy?.signal('SIGTERM');
    await proxy?.waitForRecord((record) => record['msg'] === 'draining' && record['worker'] === 0, 3000);
    await proxy?.waitForRecord((record) => record['msg'] === 'draining' && record['worker'] === 1, 3000);
    expect((await httpGet(started.metrics, '/readyz')).status).toBe(503);
    for (const download of downloads) expect(download.data.hasEnded, 'the downloads must still run during the drain').toBe(false);
    for (const download of downloads) {
      const { content, finalCode } = await download.finished;
      expect(finalCode).toBe(226);
      expect(sha256(content)).toBe(sha256(SLOW_FILE));
    }
    expect(await proxy?.waitForExit(EXIT_TIMEOUT_MS)).toEqual({ code: 0, signal: null });
    const stopped = proxy?.logRecords.filter((record) => record['msg'] === 'stopped') ?? [];
    expect(stopped).toEqual(expect.arrayContaining([expect.objectContaining({ worker: 0, cut: 0 }), expect.objectContaining({ worker: 1, cut: 0 }), expect.objectContaining({ role: 'primary' })]));
  });

  it('replaces a killed worker: logged, a new one with the same slice, sessions still served', async () => {
    const upstream = await scripted(trickleScript(FILES, TRICKLE));
    const started = await startWorkers(configFile({ upstream: upstream.address, passivePorts: '29840-29849' }));
    const victim = (await readyWorkerPids()).get(1);
    expect(victim).toBeTypeOf('number');
    process.kill(victim ?? 0, 'SIGKILL');
    const died = await proxy?.waitForRecord((record) => record['msg'] === 'worker died; starting a new one', 5000);
    expect(died).toMatchObject({ level: 'warn', worker: 1, pid: victim, signal: 'SIGKILL' });
    await proxy?.waitForRecord(
      (record) => record['msg'] === 'ftpmasq ready' && record['worker'] === 1 && record['pid'] !== victim,
      10_000,
    );
    const sessions = await oneSessionPerWorker(started.control, 29840, 29849);
    for (const client of sessions.values()) {
      const download = await beginDownload(client, 'small.bin');
      expect(sha256((await download.finished).content)).toBe(sha256(SMALL_FILE));
    }
    proxy?.signal('SIGTERM');
    expect(await proxy?.waitForExit(EXIT_TIMEOUT_MS)).toEqual({ code: 0, signal: null });
  });

  it('SIGTERM as soon as the first worker is ready still stops a worker that is still starting: exit 0', async () => {
    const upstream = await scripted(trickleScript(FILES, TRICKLE));
    proxy = await startLocalFtpmasq(['--config', configFile({ upstream: upstream.address, passivePorts: '29800-29809' })]);
    proxy.signal('SIGTERM');
    expect(await proxy.waitForExit(EXIT_TIMEOUT_MS)).toEqual({ code: 0, signal: null });
    const stopped = proxy.logRecords.filter((record) => record['msg'] === 'stopped').map((record) => record['worker'] ?? record['role']);
    expect(stopped).toEqual(expect.arrayContaining([0, 'primary']));
    // Worker 1 is forked once worker 0 is ready, unless the stop came first: if it started, it stopped.
    const started = new Set(proxy.logRecords.filter((record) => record['msg'] === 'ftpmasq ready').map((record) => record['worker']));
    for (const worker of started) expect(stopped).toContain(worker);
  });

  it('refuses more workers than a passive range has ports: one line naming the site, exit 2, no worker started', () => {
    const result = spawnSync(process.execPath, [CLI_PATH, '--upstream', '127.0.0.1:21', '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--passive-ports', '29800-29802', '--workers', '4'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe('ftpmasq: --workers: 4 workers need at least 4 ports in every passive range (one slice each); site "default" has 29800-29802\n');
    expect(result.stdout).not.toContain('ftpmasq ready');
  });
});
