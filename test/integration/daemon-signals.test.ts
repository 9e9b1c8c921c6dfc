/**
 * The built CLI with real signals: SIGHUP reloads the config file (a good one applies, a bad one is
 * logged, counted and changes nothing), SIGTERM drains (the running download completes intact while
 * new connections are refused and /readyz says draining) and exits 0, a second signal stops at once.
 */
import { describe, expect, it } from 'vitest';
import { type LocalFtpmasq, startLocalFtpmasq } from '../helpers/ftpmasq-process.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { type Endpoint, RawFtpClient } from '../helpers/raw-ftp-client.js';
import { beginDownload, httpGet, isRefused, patternedFile, seriesValue, sha256, trickleScript } from './support/daemon-fixtures.js';
import { useSpawnedCli } from './support/spawned-cli.js';

// This file's passive ranges: 22300-22399.
const { scripted } = createProxyHarness({ passivePorts: '22300-22309' });

const SLOW_FILE = patternedFile(40 * 16_384, 11);
/** About 2.4 s. */
const SLOW = { chunkBytes: 16_384, gapMs: 60 };
/** About 30 s: only a stop cuts it short. */
const VERY_SLOW = { chunkBytes: 16_384, gapMs: 750 };
const EXIT_TIMEOUT_MS = 10_000;

let proxy: LocalFtpmasq | undefined;
const { clients, configFile } = useSpawnedCli('fmq-daemon-signals-', {}, () => {
  const taken = proxy;
  proxy = undefined;
  return taken;
});

/** The control and metrics addresses and the config hash the ready line names. */
function readyFacts(started: LocalFtpmasq): { control: Endpoint; metrics: Endpoint; hash: string } {
  const { ready } = started;
  const listen = ready['listen'];
  const first = Array.isArray(listen) ? String(listen[0]) : '';
  const metricsMatch = /^http:\/\/127\.0\.0\.1:(\d+)\/metrics$/.exec(String(ready['metrics']));
  const hash = String(ready['config']);
  expect(hash).toMatch(/^[0-9a-f]{12}$/);
  return {
    control: { host: '127.0.0.1', port: Number(first.split(':').at(-1)) },
    metrics: { host: '127.0.0.1', port: Number(metricsMatch?.[1]) },
    hash,
  };
}

async function openLoggedIn(endpoint: Endpoint): Promise<RawFtpClient> {
  const client = await RawFtpClient.open(endpoint);
  clients.push(client);
  await client.login();
  return client;
}

function inRange(port: number, low: number, high: number): boolean {
  return port >= low && port <= high;
}

describe('SIGHUP', () => {
  it('reloads a changed file: logs the new hash and what changed, /readyz names it, new sessions get the new range', async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), SLOW));
    const path = configFile({ upstream: upstream.address, passivePorts: '22300-22304' });
    proxy = await startLocalFtpmasq(['--config', path]);
    const { control, metrics, hash } = readyFacts(proxy);
    expect(proxy.ready['sites']).toEqual([expect.objectContaining({ name: 'default', passivePorts: '22300-22304' })]);
    expect(await httpGet(metrics, '/readyz')).toEqual({ status: 200, body: `ready\nconfig: ${hash}\n` });
    const before = await openLoggedIn(control);

    configFile({ upstream: upstream.address, passivePorts: '22305-22309' });
    proxy.signal('SIGHUP');
    const reloaded = await proxy.waitForRecord((record) => record['msg'] === 'config reloaded', 5000);
    expect(reloaded).toMatchObject({ level: 'info', previous: hash, added: [], removed: [], changed: ['default (passivePorts)'] });
    const newHash = String(reloaded['config']);
    expect(newHash).toMatch(/^[0-9a-f]{12}$/);
    expect(newHash).not.toBe(hash);

    expect(await httpGet(metrics, '/readyz')).toEqual({ status: 200, body: `ready\nconfig: ${newHash}\n` });
    const exposition = (await httpGet(metrics, '/metrics')).body;
    expect(seriesValue(exposition, 'ftpmasq_config_reloads_total{result="success"}')).toBe(1);
    expect(seriesValue(exposition, `ftpmasq_config_info{hash="${newHash}"}`)).toBe(1);
    const fresh = await openLoggedIn(control);
    expect(inRange((await fresh.pasv()).port, 22305, 22309)).toBe(true);
    // The session from before keeps its snapshot.
    expect(inRange((await before.pasv()).port, 22300, 22304)).toBe(true);

    proxy.signal('SIGTERM');
    expect(await proxy.waitForExit(EXIT_TIMEOUT_MS)).toEqual({ code: 0, signal: null });
  });

  it('keeps serving the old configuration when the file is invalid: one error line, a failure counted', async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), SLOW));
    const path = configFile({ upstream: upstream.address, passivePorts: '22310-22314' });
    proxy = await startLocalFtpmasq(['--config', path]);
    const { control, metrics, hash } = readyFacts(proxy);

    configFile({ upstream: 'nowhere', passivePorts: '22315-22319' });
    proxy.signal('SIGHUP');
    const failed = await proxy.waitForRecord((record) => String(record['msg']).startsWith('config reload failed'), 5000);
    expect(failed).toMatchObject({ level: 'error', config: hash });
    const error = String(failed['err']);
    expect(error).toContain('upstream');
    expect(error).toContain('nowhere');
    expect(error).not.toContain('\n');

    const exposition = (await httpGet(metrics, '/metrics')).body;
    expect(seriesValue(exposition, 'ftpmasq_config_reloads_total{result="failure"}')).toBe(1);
    expect(seriesValue(exposition, 'ftpmasq_config_reloads_total{result="success"}')).toBe(0);
    expect(seriesValue(exposition, `ftpmasq_config_info{hash="${hash}"}`)).toBe(1);
    expect(await httpGet(metrics, '/readyz')).toEqual({ status: 200, body: `ready\nconfig: ${hash}\n` });
    const client = await openLoggedIn(control);
    expect(inRange((await client.pasv()).port, 22310, 22314)).toBe(true);
    const download = await beginDownload(client, 'slow.bin');
    expect(sha256((await download.finished).content)).toBe(sha256(SLOW_FILE));

    // Fixed, the next SIGHUP applies.
    configFile({ upstream: upstream.address, passivePorts: '22315-22319' });
    proxy.signal('SIGHUP');
    await proxy.waitForRecord((record) => record['msg'] === 'config reloaded', 5000);
    expect(inRange((await (await openLoggedIn(control)).pasv()).port, 22315, 22319)).toBe(true);
  });
});

describe('SIGTERM and SIGINT', () => {
  it('drain: the running download completes intact, new connections are refused, /readyz is 503, exit 0', async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), SLOW));
    proxy = await startLocalFtpmasq(['--config', configFile({ upstream: upstream.address, passivePorts: '22320-22324' })]);
    const { control, metrics, hash } = readyFacts(proxy);
    const client = await openLoggedIn(control);
    const download = await beginDownload(client, 'slow.bin');
    const startedAt = Date.now();

    proxy.signal('SIGTERM');
    await proxy.waitForRecord((record) => record['msg'] === 'draining', 3000);
    expect(await httpGet(metrics, '/readyz')).toEqual({ status: 503, body: `draining\nconfig: ${hash}\n` });
    expect(seriesValue((await httpGet(metrics, '/metrics')).body, 'ftpmasq_draining')).toBe(1);
    expect(await isRefused(control)).toBe(true);
    expect(download.data.hasEnded, 'the download must still be running during the drain').toBe(false);

    const { content, finalCode } = await download.finished;
    expect(finalCode).toBe(226);
    expect(content.length).toBe(SLOW_FILE.length);
    expect(sha256(content)).toBe(sha256(SLOW_FILE));
    expect((await client.readReply()).text).toBe('421 Service shutting down.\r\n');

    expect(await proxy.waitForExit(EXIT_TIMEOUT_MS)).toEqual({ code: 0, signal: null });
    // Well within the default 30 s drain timeout: the process went as soon as the transfer ended.
    expect(Date.now() - startedAt).toBeLessThan(EXIT_TIMEOUT_MS);
    const messages = proxy.logRecords.map((record) => record['msg']);
    expect(messages).toEqual(expect.arrayContaining(['shutting down', 'draining', 'drained', 'stopped']));
    expect(proxy.logRecords.find((record) => record['msg'] === 'stopped')).toMatchObject({ cut: 0, timedOut: false, forced: false });
  });

  it('a second signal stops at once: the download is cut, exit 0, the cut is logged at warn', async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), VERY_SLOW));
    proxy = await startLocalFtpmasq(['--config', configFile({ upstream: upstream.address, passivePorts: '22330-22334' })]);
    const { control } = readyFacts(proxy);
    const client = await openLoggedIn(control);
    const download = await beginDownload(client, 'slow.bin');

    proxy.signal('SIGTERM');
    await proxy.waitForRecord((record) => record['msg'] === 'draining', 3000);
    const secondAt = Date.now();
    proxy.signal('SIGINT');
    expect(await proxy.waitForExit(EXIT_TIMEOUT_MS)).toEqual({ code: 0, signal: null });
    expect(Date.now() - secondAt).toBeLessThan(3000);
    const outcome = await download.finished.then(
      ({ content, finalCode }) => ({ bytes: content.length, finalCode }),
      () => ({ bytes: download.data.bytesReceived, finalCode: undefined }),
    );
    expect(outcome.finalCode).not.toBe(226);
    expect(outcome.bytes).toBeLessThan(SLOW_FILE.length);
    expect(proxy.logRecords.find((record) => record['msg'] === 'second stop signal: closing every session now')).toMatchObject({
      level: 'warn',
      signal: 'SIGINT',
    });
    expect(proxy.logRecords.find((record) => String(record['msg']).startsWith('stopped before the drain ended'))).toMatchObject({
      level: 'warn',
      cut: 1,
    });
  });
});
