/**
 * Drain in-process: /readyz turns 503 at once, listeners close, running transfers finish intact,
 * idle sessions get 421; the drain timeout bounds it; stop() during a drain ends it at once. The
 * same paths through the built CLI and real signals: daemon-signals.test.ts.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { DaemonConfig } from '../../src/config/types.js';
import { type RunningDaemon, start } from '../../src/daemon.js';
import { Supervisor } from '../../src/daemon/supervisor.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { type Endpoint, waitUntil, withTimeout } from '../helpers/raw-ftp-client.js';
import {
  type RunningDownload,
  beginDownload,
  daemonConfig,
  httpGet,
  isRefused,
  patternedFile,
  seriesValue,
  sha256,
  siteConfig,
  trickleScript,
} from './support/daemon-fixtures.js';

// This file's passive ranges: 22200-22299.
/** In this file's block and in no range of it: nothing ever listens there. */
const DEAD_PORT = 22299;
const { legacyServer, scripted, openLoggedIn } = createProxyHarness({ passivePorts: '22200-22209' });

const SLOW_FILE = patternedFile(24 * 16_384, 7);
/** About 1.5 s. */
const SLOW = { chunkBytes: 16_384, gapMs: 60 };
/** About 20 s: longer than any drain timeout here. */
const VERY_SLOW = { chunkBytes: 16_384, gapMs: 800 };

const daemons: RunningDaemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.stop()));
});

interface LogRecord {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** The daemon with its log records collected, at info. */
async function startDaemon(config: DaemonConfig): Promise<{ daemon: RunningDaemon; logs: LogRecord[] }> {
  const logs: LogRecord[] = [];
  const logger = createLogger('info', {
    write: (line: string) => {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed === 'object' && parsed !== null && 'msg' in parsed && 'level' in parsed) {
        logs.push({ ...parsed, msg: String(parsed.msg), level: String(parsed.level) });
      }
    },
  });
  const daemon = await start(config, { logger, metrics: new Metrics({ defaultMetrics: false }) });
  daemons.push(daemon);
  return { daemon, logs };
}

/** How a download that may have been cut ended: the bytes the client got and the final reply, if any. */
async function outcomeOf(download: RunningDownload): Promise<{ bytes: number; finalCode: number | undefined }> {
  return download.finished.then(
    ({ content, finalCode }) => ({ bytes: content.length, finalCode }),
    () => ({ bytes: download.data.bytesReceived, finalCode: undefined }),
  );
}

function addressOf(daemon: RunningDaemon): Endpoint {
  const [address] = daemon.addresses;
  if (address === undefined) throw new Error('no listener');
  return address;
}

function metricsOf(daemon: RunningDaemon): Endpoint {
  if (daemon.metricsAddress === undefined) throw new Error('metrics listener is off');
  return daemon.metricsAddress;
}

describe('drain', () => {
  it('answers /readyz 503 at once, refuses new connections, lets the download finish intact, then closes every session with 421', async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), SLOW));
    const { daemon, logs } = await startDaemon(
      daemonConfig([siteConfig('north', { upstream: upstream.address, passivePorts: '22200-22204' })], {
        metricsListen: { host: '127.0.0.1', port: 0 },
      }),
    );
    const address = addressOf(daemon);
    const metrics = metricsOf(daemon);
    await waitUntil(async () => (await httpGet(metrics, '/readyz')).status === 200, 3000, () => 'never ready');
    expect(await httpGet(metrics, '/readyz')).toEqual({ status: 200, body: `ready\nconfig: ${daemon.configHash}\n` });

    const busy = await openLoggedIn(address);
    const idle = await openLoggedIn(address);
    const download = await beginDownload(busy, 'slow.bin');

    const draining = daemon.drain(10_000);
    expect(daemon.state).toBe('draining');
    expect(await httpGet(metrics, '/readyz')).toEqual({ status: 503, body: `draining\nconfig: ${daemon.configHash}\n` });
    const exposition = (await httpGet(metrics, '/metrics')).body;
    expect(seriesValue(exposition, 'ftpmasq_draining')).toBe(1);
    expect(seriesValue(exposition, 'ftpmasq_ready')).toBe(0);
    expect(await isRefused(address)).toBe(true);

    // The idle session is closed at once; the busy one finishes its transfer first.
    expect((await idle.readReply()).text).toBe('421 Service shutting down.\r\n');
    await idle.waitForClose();
    expect(download.data.hasEnded).toBe(false);
    const { content, finalCode } = await download.finished;
    expect(finalCode).toBe(226);
    expect(sha256(content)).toBe(sha256(SLOW_FILE));
    expect((await busy.readReply()).code).toBe(421);
    await busy.waitForClose();

    expect(await withTimeout(draining, 5000, () => 'drain did not end')).toEqual({ cut: 0, timedOut: false, forced: false });
    expect(daemon.state).toBe('stopped');
    expect(daemon.sessionCount()).toBe(0);
    await expect(httpGet(metrics, '/readyz')).rejects.toThrow();
    expect(logs.map((record) => record.msg)).toEqual(expect.arrayContaining(['draining', 'drained']));
    // Nothing was cut, so the process logs no warning (the upstream's diagnosis is a session's).
    expect(logs.filter((record) => ['warn', 'error', 'fatal'].includes(record.level) && record['session'] === undefined)).toEqual([]);
  });

  it('cuts what is still running when the drain timeout runs out, logs how many at warn, and stops', async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), VERY_SLOW));
    const { daemon, logs } = await startDaemon(
      daemonConfig([siteConfig('north', { upstream: upstream.address, passivePorts: '22210-22214' })]),
    );
    const client = await openLoggedIn(addressOf(daemon));
    const download = await beginDownload(client, 'slow.bin');
    const startedAt = Date.now();
    const result = await withTimeout(daemon.drain(400), 5000, () => 'drain did not end');
    const elapsed = Date.now() - startedAt;
    expect(result).toEqual({ cut: 1, timedOut: true, forced: false });
    expect(elapsed).toBeGreaterThanOrEqual(380);
    expect(elapsed).toBeLessThan(3000);
    const outcome = await outcomeOf(download);
    expect(outcome.finalCode).not.toBe(226);
    expect(outcome.bytes).toBeLessThan(SLOW_FILE.length);
    expect(client.receivedBytes().toString('latin1')).toContain('421 Service shutting down.\r\n');
    const warning = logs.find((record) => record.msg === 'drain timeout: sessions with a transfer in flight closed');
    expect(warning).toMatchObject({ level: 'warn', cut: 1, drainTimeoutMs: 400 });
    expect(daemon.state).toBe('stopped');
  });

  it('uses the configured drain timeout when none is given', async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), VERY_SLOW));
    const { daemon } = await startDaemon(
      daemonConfig([siteConfig('north', { upstream: upstream.address, passivePorts: '22215-22219' })], { drainTimeoutMs: 300 }),
    );
    const client = await openLoggedIn(addressOf(daemon));
    await beginDownload(client, 'slow.bin');
    expect(await withTimeout(daemon.drain(), 5000, () => 'drain did not end')).toEqual({ cut: 1, timedOut: true, forced: false });
  });

  it('stop() during a drain closes everything at once', async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), VERY_SLOW));
    const { daemon } = await startDaemon(
      daemonConfig([siteConfig('north', { upstream: upstream.address, passivePorts: '22220-22224' })]),
    );
    const client = await openLoggedIn(addressOf(daemon));
    const download = await beginDownload(client, 'slow.bin');
    const draining = daemon.drain(30_000);
    await daemon.stop();
    expect(await withTimeout(draining, 3000, () => 'drain did not end after stop')).toEqual({ cut: 1, timedOut: false, forced: true });
    const outcome = await outcomeOf(download);
    expect(outcome.finalCode).not.toBe(226);
    expect(outcome.bytes).toBeLessThan(SLOW_FILE.length);
  });

  it("keeps the caller's logger level at start; a reload that changes logLevel applies it to the process and new sessions", async () => {
    const upstream = await legacyServer();
    const site = siteConfig('north', { upstream: upstream.address, passivePorts: '22245-22249' });
    // The logger was made at info; the configuration says silent (as the demo's says info to a silent logger).
    const { daemon, logs } = await startDaemon(daemonConfig([site], { logLevel: 'silent' }));
    const first = await openLoggedIn(addressOf(daemon));
    expect(logs.filter((record) => record.msg === 'session start')).toHaveLength(1);
    expect(await daemon.reload(daemonConfig([site], { logLevel: 'warn' }))).toMatchObject({ ok: true, unchanged: ['north'] });
    await openLoggedIn(addressOf(daemon));
    await first.command('NOOP');
    expect(logs.filter((record) => record.msg === 'session start')).toHaveLength(1);
    expect(logs.some((record) => record.msg === 'config reloaded')).toBe(false);
  });

  it('refuses a reload while draining, without counting it as a failed configuration', async () => {
    const upstream = await legacyServer();
    const config = daemonConfig([siteConfig('north', { upstream: upstream.address, passivePorts: '22225-22229' })]);
    const { daemon } = await startDaemon(config);
    const draining = daemon.drain(1000);
    expect(await daemon.reload(config)).toMatchObject({ ok: false, error: 'the daemon is draining' });
    await draining;
    expect(seriesValue(await daemon.metrics.registry.metrics(), 'ftpmasq_config_reloads_total{result="failure"}')).toBe(0);
  });
});

describe('readiness and removed sites', () => {
  it('/readyz is 503 while one site of two has its upstream down, naming that site; 200 once the site is removed', async () => {
    const up = await legacyServer();
    // Was a closed LegacyFtpServer's port: an ephemeral port, which another file's listener
    // could take before the check dialled it (south then looked up, and the test timed out under
    // load). A port of this file's own block, below the ephemeral range, that nothing listens on
    // stays refused.
    const down = `127.0.0.1:${DEAD_PORT}`;
    const north = siteConfig('north', { upstream: up.address, passivePorts: '22250-22250' });
    const { daemon } = await startDaemon(
      daemonConfig([north, siteConfig('south', { upstream: down, passivePorts: '22251-22251' })], {
        metricsListen: { host: '127.0.0.1', port: 0 },
      }),
    );
    const metrics = metricsOf(daemon);
    await waitUntil(async () => (await httpGet(metrics, '/readyz')).status === 503, 10_000, () => 'south never unready');
    const { body } = await httpGet(metrics, '/readyz');
    expect(body).toMatch(new RegExp(`^upstream unreachable: .*ECONNREFUSED.* \\(site south\\)\nconfig: ${daemon.configHash}\n$`));
    const exposition = (await httpGet(metrics, '/metrics')).body;
    expect(seriesValue(exposition, 'ftpmasq_upstream_up{site="north"}')).toBe(1);
    expect(seriesValue(exposition, 'ftpmasq_upstream_up{site="south"}')).toBe(0);
    expect(seriesValue(exposition, 'ftpmasq_ready')).toBe(0);

    expect((await daemon.reload(daemonConfig([north], { metricsListen: { host: '127.0.0.1', port: 0 } }))).ok).toBe(true);
    expect(daemon.metricsAddress).toEqual(metrics);
    expect(await httpGet(metrics, '/readyz')).toEqual({ status: 200, body: `ready\nconfig: ${daemon.configHash}\n` });
  });

  it("bounds a removed site's drain by the drain timeout: the busy session is cut, logged, and the site's series go", async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), VERY_SLOW));
    const north = siteConfig('north', { upstream: upstream.address, passivePorts: '22255-22255' });
    const south = siteConfig('south', { upstream: upstream.address, passivePorts: '22256-22256' });
    const { daemon, logs } = await startDaemon(daemonConfig([north, south], { drainTimeoutMs: 300 }));
    const [southAddress] = daemon.siteAddresses.get('south') ?? [];
    if (southAddress === undefined) throw new Error('south has no listener');
    const client = await openLoggedIn(southAddress);
    const download = await beginDownload(client, 'slow.bin');
    expect((await daemon.reload(daemonConfig([north], { drainTimeoutMs: 300 }))).ok).toBe(true);
    const outcome = await outcomeOf(download);
    expect(outcome.finalCode).not.toBe(226);
    expect(outcome.bytes).toBeLessThan(SLOW_FILE.length);
    await waitUntil(() => logs.some((record) => record.msg === 'site drained'), 3000, () => 'south never drained');
    expect(logs.find((record) => record.msg.startsWith('drain timeout of a removed site'))).toMatchObject({ level: 'warn', site: 'south', cut: 1 });
    expect((await daemon.metrics.registry.metrics()).includes('site="south"')).toBe(false);
    expect(daemon.state).toBe('running');
  });
});

describe('Supervisor: the signals the CLI wires to the process', () => {
  it('SIGHUP reloads, an invalid configuration is rejected and counted, the first SIGTERM drains, the second stops', async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), VERY_SLOW));
    const site = siteConfig('north', { upstream: upstream.address, passivePorts: '22230-22234' });
    const { daemon, logs } = await startDaemon(daemonConfig([site]));
    const signals = new EventEmitter();
    const supervisor = new Supervisor({
      on: (signal, listener) => signals.on(signal, listener),
      off: (signal, listener) => signals.off(signal, listener),
    });
    let next: DaemonConfig | Error = daemonConfig([{ ...site, passivePorts: { low: 22235, high: 22239 } }]);
    const stopped = supervisor.run(daemon, {
      logger: createLogger('silent'),
      reload: () => {
        if (next instanceof Error) throw next;
        return { config: next, hash: 'cafecafecafe', source: 'test' };
      },
    });

    signals.emit('SIGHUP', 'SIGHUP');
    await waitUntil(() => daemon.configHash === 'cafecafecafe', 2000, () => 'SIGHUP did not reload');
    next = new Error('test.yaml: sites[0].upstream: expected HOST:PORT, got "nowhere"');
    signals.emit('SIGHUP', 'SIGHUP');
    await waitUntil(() => logs.some((record) => record.msg.startsWith('config reload failed')), 2000, () => 'no failure logged');
    expect(logs.find((record) => record.msg.startsWith('config reload failed'))).toMatchObject({
      level: 'error',
      err: 'test.yaml: sites[0].upstream: expected HOST:PORT, got "nowhere"',
      config: 'cafecafecafe',
    });
    expect(daemon.configHash).toBe('cafecafecafe');

    const client = await openLoggedIn(addressOf(daemon));
    await beginDownload(client, 'slow.bin');
    signals.emit('SIGTERM', 'SIGTERM');
    expect(daemon.state).toBe('draining');
    signals.emit('SIGINT', 'SIGINT');
    expect(await withTimeout(stopped, 3000, () => 'the second signal did not stop')).toEqual({ cut: 1, timedOut: false, forced: true });
    expect(daemon.state).toBe('stopped');
    supervisor.dispose();
    expect(signals.listenerCount('SIGTERM')).toBe(0);
  });

  it('handles a stop signal that arrived before the daemon was running', async () => {
    const upstream = await legacyServer();
    const signals = new EventEmitter();
    const supervisor = new Supervisor({
      on: (signal, listener) => signals.on(signal, listener),
      off: (signal, listener) => signals.off(signal, listener),
    });
    signals.emit('SIGTERM', 'SIGTERM');
    const { daemon } = await startDaemon(daemonConfig([siteConfig('north', { upstream: upstream.address, passivePorts: '22240-22240' })]));
    const outcome = await withTimeout(
      supervisor.run(daemon, { logger: createLogger('silent'), reload: () => ({ config: daemon.config, hash: daemon.configHash, source: 'test' }) }),
      3000,
      () => 'the early SIGTERM was lost',
    );
    expect(outcome).toEqual({ cut: 0, timedOut: false, forced: false });
    supervisor.dispose();
  });
});
