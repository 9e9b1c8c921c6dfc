/**
 * Several sites in one process, and reload as a transaction: sites added, removed and changed while
 * transfers run, overlapping passive ranges, listeners kept or moved, a failed bind rolled back.
 * Real sockets on 127.0.0.1; every download is compared by checksum with the upstream's file.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { DaemonConfig } from '../../src/config/types.js';
import { type RunningDaemon, start } from '../../src/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { openFdCount, settleFdCount } from '../helpers/fd-count.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { type Endpoint, RawFtpClient, trust227, waitUntil } from '../helpers/raw-ftp-client.js';
import {
  beginDownload,
  daemonConfig,
  freePort,
  isRefused,
  patternedFile,
  sha256,
  siteConfig,
  trickleScript,
} from './support/daemon-fixtures.js';

// This file's passive ranges: 22000-22199.
const { legacyServer, scripted, openLoggedIn, open } = createProxyHarness({ passivePorts: '22000-22009' });

const NORTH_FILE = patternedFile(200_000, 1);
const SOUTH_FILE = patternedFile(150_000, 2);
const SLOW_FILE = patternedFile(24 * 16_384, 3);
/** 24 chunks 60 ms apart: a download of about 1.5 s. */
const SLOW = { chunkBytes: 16_384, gapMs: 60 };

const daemons: RunningDaemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((daemon) => daemon.stop()));
});

async function startDaemon(config: DaemonConfig): Promise<RunningDaemon> {
  const daemon = await start(config, { logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }) });
  daemons.push(daemon);
  return daemon;
}

function addressOf(daemon: RunningDaemon, site: string): Endpoint {
  const [address] = daemon.siteAddresses.get(site) ?? [];
  if (address === undefined) throw new Error(`site ${site} has no listener`);
  return address;
}

async function metricValue(daemon: RunningDaemon, series: string): Promise<number | undefined> {
  const exposition = await daemon.metrics.registry.metrics();
  const line = exposition.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A plain listener holding a port, so that binding it fails with EADDRINUSE. */
async function holdPort(port: number): Promise<{ close(): Promise<void> }> {
  const server = net.createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => resolve());
  });
  return { close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function inRange(port: number, low: number, high: number): boolean {
  return port >= low && port <= high;
}

describe('several sites in one process', () => {
  it('serves each site from its own upstream and passive range, with metrics per site', async () => {
    const north = await legacyServer({ files: new Map([['north.bin', NORTH_FILE]]) });
    const south = await legacyServer({ files: new Map([['south.bin', SOUTH_FILE]]) });
    const daemon = await startDaemon(
      daemonConfig([
        siteConfig('north', { upstream: north.address, passivePorts: '22000-22009' }),
        siteConfig('south', { upstream: south.address, passivePorts: '22010-22019' }),
      ]),
    );
    expect([...daemon.siteAddresses.keys()]).toEqual(['north', 'south']);
    expect(daemon.addresses).toHaveLength(2);

    const northClient = await openLoggedIn(addressOf(daemon, 'north'));
    const northDownload = await northClient.retrieve('north.bin');
    expect(northDownload.final.code).toBe(226);
    expect(sha256(northDownload.data)).toBe(sha256(NORTH_FILE));
    expect(northDownload.data.length).toBe(NORTH_FILE.length);
    expect(inRange(trust227(northDownload.setup).port, 22000, 22009), northDownload.setup.text).toBe(true);

    const southClient = await openLoggedIn(addressOf(daemon, 'south'));
    const southDownload = await southClient.retrieve('south.bin');
    expect(southDownload.final.code).toBe(226);
    expect(sha256(southDownload.data)).toBe(sha256(SOUTH_FILE));
    const southTarget = await southClient.pasv();
    expect(inRange(southTarget.port, 22010, 22019), southTarget.reply.text).toBe(true);
    // Each site reaches its own upstream only.
    expect((await southClient.command('SIZE north.bin')).code).toBe(550);

    expect(await metricValue(daemon, 'ftpmasq_rewrites_total{site="north",kind="pasv"}')).toBe(1);
    expect(await metricValue(daemon, 'ftpmasq_rewrites_total{site="south",kind="pasv"}')).toBe(2);
    expect(await metricValue(daemon, 'ftpmasq_sessions_total{site="north"}')).toBe(1);
    expect(await metricValue(daemon, 'ftpmasq_sessions_total{site="south"}')).toBe(1);
    expect(await metricValue(daemon, 'ftpmasq_data_bytes_total{site="north",direction="to_client"}')).toBe(NORTH_FILE.length);
    expect(await metricValue(daemon, 'ftpmasq_data_bytes_total{site="south",direction="to_client"}')).toBe(SOUTH_FILE.length);
    expect(await metricValue(daemon, 'ftpmasq_passive_ports_capacity{site="north"}')).toBe(10);
    expect(daemon.sessionCount()).toBe(2);
  });

  it('refuses to start with one listen address in two sites, binding nothing', async () => {
    const upstream = await legacyServer();
    const port = await freePort();
    const config = daemonConfig([
      siteConfig('north', { upstream: upstream.address, passivePorts: '22020-22020', listen: `127.0.0.1:${port}` }),
      siteConfig('south', { upstream: upstream.address, passivePorts: '22021-22021', listen: `127.0.0.1:${port}` }),
    ]);
    await expect(startDaemon(config)).rejects.toThrow(/127\.0\.0\.1:\d+ is used by sites north and south/);
    expect(await isRefused({ host: '127.0.0.1', port })).toBe(true);
  });

  it('releases what it bound when a later listener of another site cannot be bound', async () => {
    const upstream = await legacyServer();
    const [first, taken] = [await freePort(), await freePort()];
    const blocker = await holdPort(taken);
    try {
      const config = daemonConfig([
        siteConfig('north', { upstream: upstream.address, passivePorts: '22022-22022', listen: `127.0.0.1:${first}` }),
        siteConfig('south', { upstream: upstream.address, passivePorts: '22023-22023', listen: `127.0.0.1:${taken}` }),
      ]);
      await expect(startDaemon(config)).rejects.toMatchObject({ name: 'ListenError', code: 'EADDRINUSE' });
      expect(await isRefused({ host: '127.0.0.1', port: first })).toBe(true);
    } finally {
      await blocker.close();
    }
  });
});

describe('reload', () => {
  it('adds a site: it listens at once; the others keep their sockets and sessions', async () => {
    const north = await legacyServer({ files: new Map([['north.bin', NORTH_FILE]]) });
    const south = await legacyServer({ files: new Map([['south.bin', SOUTH_FILE]]) });
    const northSite = siteConfig('north', { upstream: north.address, passivePorts: '22030-22034' });
    const daemon = await startDaemon(daemonConfig([northSite]));
    const northAddress = addressOf(daemon, 'north');
    const before = await openLoggedIn(northAddress);
    const hashBefore = daemon.configHash;

    const result = await daemon.reload(daemonConfig([northSite, siteConfig('south', { upstream: south.address, passivePorts: '22035-22039' })]));
    expect(result).toMatchObject({ ok: true, added: ['south'], removed: [], changed: [], unchanged: ['north'], previousHash: hashBefore });
    expect(addressOf(daemon, 'north')).toEqual(northAddress);
    expect(daemon.configHash).not.toBe(hashBefore);

    const southClient = await openLoggedIn(addressOf(daemon, 'south'));
    const southDownload = await southClient.retrieve('south.bin');
    expect(sha256(southDownload.data)).toBe(sha256(SOUTH_FILE));
    // The session from before the reload goes on.
    const northDownload = await before.retrieve('north.bin');
    expect(sha256(northDownload.data)).toBe(sha256(NORTH_FILE));

    expect(await metricValue(daemon, 'ftpmasq_config_reloads_total{result="success"}')).toBe(1);
    expect(await metricValue(daemon, `ftpmasq_config_info{hash="${daemon.configHash}"}`)).toBe(1);
    expect(await metricValue(daemon, `ftpmasq_config_info{hash="${hashBefore}"}`)).toBeUndefined();
    expect(await metricValue(daemon, 'ftpmasq_sessions_total{site="south"}')).toBe(1);
  });

  it('removes a site: its running download completes intact, new connections are refused, its series go', async () => {
    const north = await legacyServer();
    const south = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), SLOW));
    const northSite = siteConfig('north', { upstream: north.address, passivePorts: '22040-22044' });
    const daemon = await startDaemon(
      daemonConfig([northSite, siteConfig('south', { upstream: south.address, passivePorts: '22045-22049' })]),
    );
    const southAddress = addressOf(daemon, 'south');
    const client = await openLoggedIn(southAddress);
    const download = await beginDownload(client, 'slow.bin');

    const result = await daemon.reload(daemonConfig([northSite]));
    expect(result).toMatchObject({ ok: true, added: [], removed: ['south'], unchanged: ['north'] });
    expect(await isRefused(southAddress)).toBe(true);
    expect([...daemon.siteAddresses.keys()]).toEqual(['north']);
    expect(download.data.hasEnded, 'the download must still be running during the reload').toBe(false);

    const { content, finalCode } = await download.finished;
    expect(finalCode).toBe(226);
    expect(content.length).toBe(SLOW_FILE.length);
    expect(sha256(content)).toBe(sha256(SLOW_FILE));
    // Idle now: the removed site closes the session with 421.
    expect((await client.readReply()).text).toBe('421 Service shutting down.\r\n');
    await client.waitForClose();
    await waitUntil(async () => !(await daemon.metrics.registry.metrics()).includes('site="south"'), 3000, () => 'south series still served');
    expect(daemon.sessionCount()).toBe(0);
    // The site that stayed serves as before.
    await open(addressOf(daemon, 'north'));
  });

  it("changes a site's passive range: the running download keeps its port, new sessions get the new range", async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), SLOW));
    const daemon = await startDaemon(daemonConfig([siteConfig('north', { upstream: upstream.address, passivePorts: '22050-22054' })]));
    const address = addressOf(daemon, 'north');
    const old = await openLoggedIn(address);
    const download = await beginDownload(old, 'slow.bin');
    expect(inRange(download.passivePort, 22050, 22054)).toBe(true);

    const result = await daemon.reload(daemonConfig([siteConfig('north', { upstream: upstream.address, passivePorts: '22055-22059' })]));
    expect(result).toMatchObject({ ok: true, changed: [{ name: 'north', keys: ['passivePorts'] }] });
    expect(addressOf(daemon, 'north')).toEqual(address);

    const fresh = await openLoggedIn(address);
    const target = await fresh.pasv();
    expect(inRange(target.port, 22055, 22059), target.reply.text).toBe(true);
    expect(download.data.hasEnded).toBe(false);

    const { content, finalCode } = await download.finished;
    expect(finalCode).toBe(226);
    expect(sha256(content)).toBe(sha256(SLOW_FILE));
    // The session that started before the reload keeps the snapshot it started with.
    const again = await old.pasv();
    expect(inRange(again.port, 22050, 22054), again.reply.text).toBe(true);
    expect(await metricValue(daemon, 'ftpmasq_passive_ports_capacity{site="north"}')).toBe(5);
    // Both pools count: the old range's port and the new one's.
    expect(await metricValue(daemon, 'ftpmasq_passive_ports_in_use{site="north"}')).toBe(2);
  });

  it('overlapping ranges: the new pool skips a port the old pool holds for a running transfer', async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), SLOW));
    const daemon = await startDaemon(daemonConfig([siteConfig('north', { upstream: upstream.address, passivePorts: '22060-22060' })]));
    const address = addressOf(daemon, 'north');
    const old = await openLoggedIn(address);
    // 22060 now carries the relay: its listener is closed, the port stays the old pool's.
    const download = await beginDownload(old, 'slow.bin');
    expect(download.passivePort).toBe(22060);

    const result = await daemon.reload(daemonConfig([siteConfig('north', { upstream: upstream.address, passivePorts: '22060-22061' })]));
    expect(result.ok).toBe(true);
    const fresh = await openLoggedIn(address);
    const target = await fresh.pasv();
    expect(target.port, 'the new pool must not hand out a port the old pool holds').toBe(22061);

    const { content } = await download.finished;
    expect(sha256(content)).toBe(sha256(SLOW_FILE));
    // Released by the old pool once its relay has closed (a moment after the client's 226),
    // 22060 is the new pool's to give; only the fresh session's 22061 is held then.
    const inUse = async (): Promise<string> =>
      (await daemon.metrics.registry.getSingleMetricAsString('ftpmasq_passive_ports_in_use')).trim();
    await waitUntil(async () => (await inUse()).endsWith('{site="north"} 1'), 5000, () => 'the old pool still holds 22060');
    const next = await (await openLoggedIn(address)).pasv();
    expect(next.port).toBe(22060);
  });

  it("moves a site's listener: the new one is bound, the old refuses, its sessions go on", async () => {
    const upstream = await legacyServer({ files: new Map([['north.bin', NORTH_FILE]]) });
    const [first, second] = [await freePort(), await freePort()];
    const site = (port: number) => siteConfig('north', { upstream: upstream.address, passivePorts: '22070-22074', listen: `127.0.0.1:${port}` });
    const daemon = await startDaemon(daemonConfig([site(first)]));
    const before = await openLoggedIn({ host: '127.0.0.1', port: first });

    const result = await daemon.reload(daemonConfig([site(second)]));
    expect(result).toMatchObject({ ok: true, changed: [{ name: 'north', keys: ['listen'] }] });
    expect(daemon.addresses).toEqual([{ host: '127.0.0.1', port: second }]);
    expect(await isRefused({ host: '127.0.0.1', port: first })).toBe(true);
    await open({ host: '127.0.0.1', port: second });
    const download = await before.retrieve('north.bin');
    expect(sha256(download.data)).toBe(sha256(NORTH_FILE));
  });

  it('keeps an unchanged listening socket through reloads: no connection is refused meanwhile', async () => {
    const upstream = await legacyServer();
    const site = (mode: string) => siteConfig('north', { upstream: upstream.address, passivePorts: '22075-22079', mode });
    const daemon = await startDaemon(daemonConfig([site('relay')]));
    const address = addressOf(daemon, 'north');
    let stop = false;
    let greeted = 0;
    const connecting = (async () => {
      while (!stop) {
        const client = await RawFtpClient.open(address);
        greeted += 1;
        await client.close();
      }
    })();
    for (let round = 0; round < 10; round++) {
      const result = await daemon.reload(daemonConfig([site(round % 2 === 0 ? 'rewrite' : 'relay')]));
      expect(result).toMatchObject({ ok: true, changed: [{ name: 'north', keys: ['mode'] }] });
    }
    stop = true;
    await connecting;
    expect(greeted).toBeGreaterThan(0);
    expect(daemon.addresses).toEqual([address]);
    expect(await metricValue(daemon, 'ftpmasq_config_reloads_total{result="success"}')).toBe(10);
  });

  it('rolls back when a listener cannot be bound: nothing of the new configuration stays', async () => {
    const upstream = await legacyServer();
    const northSite = siteConfig('north', { upstream: upstream.address, passivePorts: '22080-22080' });
    const daemon = await startDaemon(daemonConfig([northSite]));
    const hashBefore = daemon.configHash;
    const [southPort, taken] = [await freePort(), await freePort()];
    const blocker = await holdPort(taken);
    try {
      const result = await daemon.reload(
        daemonConfig([
          { ...northSite, mode: 'rewrite' },
          siteConfig('south', { upstream: upstream.address, passivePorts: '22081-22081', listen: `127.0.0.1:${southPort}` }),
          siteConfig('west', { upstream: upstream.address, passivePorts: '22082-22082', listen: `127.0.0.1:${taken}` }),
        ]),
      );
      expect(result).toMatchObject({ ok: false, hash: hashBefore });
      expect(result.ok ? '' : result.error).toContain(`cannot listen on 127.0.0.1:${taken}`);
    } finally {
      await blocker.close();
    }
    // south had been bound by the reload: released again.
    expect(await isRefused({ host: '127.0.0.1', port: southPort })).toBe(true);
    expect(daemon.configHash).toBe(hashBefore);
    expect(daemon.config.sites).toEqual([northSite]);
    expect([...daemon.siteAddresses.keys()]).toEqual(['north']);
    expect(await metricValue(daemon, 'ftpmasq_config_reloads_total{result="failure"}')).toBe(1);
    expect(await metricValue(daemon, 'ftpmasq_config_reloads_total{result="success"}')).toBe(0);
    expect((await daemon.metrics.registry.metrics()).includes('site="south"')).toBe(false);
    // Still the old configuration: relay mode, so the 227 names ftpmasq's own port.
    const client = await openLoggedIn(addressOf(daemon, 'north'));
    expect((await client.pasv()).port).toBe(22080);
  });

  it('re-adds a removed site while its old session still drains', async () => {
    const upstream = await scripted(trickleScript(new Map([['slow.bin', SLOW_FILE]]), SLOW));
    const north = siteConfig('north', { upstream: upstream.address, passivePorts: '22085-22085' });
    const south = siteConfig('south', { upstream: upstream.address, passivePorts: '22086-22087' });
    const daemon = await startDaemon(daemonConfig([north, south]));
    const client = await openLoggedIn(addressOf(daemon, 'south'));
    const download = await beginDownload(client, 'slow.bin');
    expect((await daemon.reload(daemonConfig([north]))).ok).toBe(true);
    expect(await daemon.reload(daemonConfig([north, south]))).toMatchObject({ ok: true, added: ['south'] });
    const fresh = await openLoggedIn(addressOf(daemon, 'south'));
    expect((await fresh.pasv()).port).toBe(22087);
    const { content } = await download.finished;
    expect(sha256(content)).toBe(sha256(SLOW_FILE));
    // The old session was told to drain when its site was removed: closed once idle.
    expect((await client.readReply()).code).toBe(421);
    // The site itself serves on, with its series.
    expect(await metricValue(daemon, 'ftpmasq_sessions_active{site="south"}')).toBe(1);
    expect((await fresh.command('NOOP')).code).toBe(200);
  });

  it('leaks no descriptor over reloads that move listeners, change ranges, add and remove sites', async () => {
    const upstream = await legacyServer({ files: new Map([['north.bin', NORTH_FILE]]) });
    const north = (round: number) =>
      siteConfig('north', { upstream: upstream.address, passivePorts: round % 2 === 0 ? '22090-22094' : '22095-22099' });
    const south = siteConfig('south', { upstream: upstream.address, passivePorts: '22100-22104' });
    const daemon = await startDaemon(daemonConfig([north(0)]));
    // One round first, so lazily opened handles (timers, the upstream check) exist before counting.
    const warm = await openLoggedIn(addressOf(daemon, 'north'));
    await warm.retrieve('north.bin');
    await warm.quit();
    await waitUntil(() => daemon.sessionCount() === 0, 3000, () => 'the first session is still open');
    const before = openFdCount();
    for (let round = 1; round <= 20; round++) {
      const result = await daemon.reload(daemonConfig(round % 3 === 0 ? [north(round)] : [north(round), south]));
      expect(result.ok).toBe(true);
      const client = await openLoggedIn(addressOf(daemon, 'north'));
      const download = await client.retrieve('north.bin');
      expect(sha256(download.data)).toBe(sha256(NORTH_FILE));
      await client.quit();
    }
    expect(await daemon.reload(daemonConfig([north(0)]))).toMatchObject({ ok: true });
    await waitUntil(() => daemon.sessionCount() === 0, 3000, () => 'sessions still open');
    expect(await settleFdCount(before, 3000)).toBeLessThanOrEqual(before);
  });
});
