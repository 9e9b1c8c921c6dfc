/**
 * What an integration test file needs around one ftpmasq daemon on loopback: the daemon itself
 * (silent, no metrics listener, the file's own passive range), its upstream (LegacyFtpServer or a
 * ScriptedUpstream) and the clients, each closed for the test by vitest hooks that
 * `createProxyHarness` registers. Call it once, at the top of the file.
 *
 * After each test: the clients are closed, then the proxies and upstreams in reverse order of
 * start, then the test fails if a scripted upstream's script threw (other than on hang-up). A file
 * that starts its proxy in `beforeAll` says `lifetime: 'file'`, and that teardown runs after its
 * last test instead; its clients are still closed after each test.
 */
import { afterAll, afterEach, expect } from 'vitest';
import { buildConfig, type RawOptions } from '../../src/config/schema.js';
import { start, type RunningDaemon } from '../../src/daemon.js';
import { LegacyFtpServer, type LegacyFtpServerOptions } from '../../src/demo/legacy-ftp-server.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics, type RefusalReason } from '../../src/observability/metrics.js';
import { RawFtpClient, type Endpoint } from './raw-ftp-client.js';
import { ScriptedUpstream, type Script } from './scripted-upstream.js';

export interface ProxyHarnessOptions {
  /**
   * The file's own `low-high` range. Integration files run in parallel, so no two share a port;
   * keep it below the kernel's ephemeral range (32768-60999) so no outgoing socket holds one.
   */
  readonly passivePorts: string;
  /** Options every `startProxy` of the file starts from (a call's own options win). */
  readonly proxy?: RawOptions;
  /** Options every `legacyServer` of the file starts from (a call's own options win). */
  readonly legacy?: Omit<LegacyFtpServerOptions, 'host'>;
  /** When proxies and upstreams are stopped: after each test (the default) or after the file. */
  readonly lifetime?: 'test' | 'file';
}

export interface StartedProxy {
  readonly daemon: RunningDaemon;
  readonly endpoint: Endpoint;
}

export interface StartedLegacyServer {
  readonly legacy: LegacyFtpServer;
  readonly endpoint: Endpoint;
  /** `host:port`, for the proxy's --upstream. */
  readonly address: string;
}

export interface ProxyHarness {
  /** ftpmasq in relay mode (unless the options say otherwise) in front of `upstream` (`host:port`). */
  startProxy(upstream: string, options?: RawOptions): Promise<StartedProxy>;
  /** A ScriptedUpstream running `script` for each control connection. */
  scripted(script: Script, options?: { allowHalfOpen?: boolean }): Promise<ScriptedUpstream>;
  /** A LegacyFtpServer on 127.0.0.1: its 227 names 10.0.11.251 unless the options say otherwise. */
  legacyServer(options?: Omit<LegacyFtpServerOptions, 'host'>): Promise<StartedLegacyServer>;
  /** A client connected to `endpoint`, greeting unread. */
  connect(endpoint: Endpoint): Promise<RawFtpClient>;
  /** A client that has read the 220 greeting. */
  open(endpoint: Endpoint): Promise<RawFtpClient>;
  /** A client that has read the greeting and logged in. */
  openLoggedIn(endpoint: Endpoint): Promise<RawFtpClient>;
}

export function createProxyHarness(options: ProxyHarnessOptions): ProxyHarness {
  const cleanups: Array<() => Promise<void>> = [];
  const clients: RawFtpClient[] = [];
  const upstreams: ScriptedUpstream[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });
  (options.lifetime === 'file' ? afterAll : afterEach)(async () => {
    const errors = upstreams.splice(0).flatMap((upstream) => upstream.scriptErrors);
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    expect(errors).toEqual([]);
  });

  async function connect(endpoint: Endpoint): Promise<RawFtpClient> {
    const client = await RawFtpClient.connect(endpoint);
    clients.push(client);
    return client;
  }

  async function open(endpoint: Endpoint): Promise<RawFtpClient> {
    const client = await connect(endpoint);
    await client.expectReply(220);
    return client;
  }

  return {
    async startProxy(upstream, proxyOptions = {}) {
      const config = buildConfig({
        listen: '127.0.0.1:0',
        upstream,
        metricsListen: 'off',
        passivePorts: options.passivePorts,
        logLevel: 'silent',
        ...options.proxy,
        ...proxyOptions,
      });
      const daemon = await start(config, { logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }) });
      cleanups.push(() => daemon.stop());
      const endpoint = daemon.addresses[0];
      if (endpoint === undefined) throw new Error('daemon has no listener');
      return { daemon, endpoint };
    },

    async scripted(script, scriptOptions = {}) {
      const upstream = await ScriptedUpstream.start(script, scriptOptions);
      upstreams.push(upstream);
      cleanups.push(() => upstream.close());
      return upstream;
    },

    async legacyServer(legacyOptions = {}) {
      const legacy = new LegacyFtpServer({ host: '127.0.0.1', ...options.legacy, ...legacyOptions });
      const endpoint = await legacy.listen();
      cleanups.push(() => legacy.close());
      return { legacy, endpoint, address: `${endpoint.host}:${endpoint.port}` };
    },

    connect,
    open,

    async openLoggedIn(endpoint) {
      const client = await open(endpoint);
      await client.login();
      return client;
    },
  };
}

/** ftpmasq_refusals_total for one reason. */
export async function countRefusals(daemon: RunningDaemon, reason: RefusalReason): Promise<number> {
  const metric = await daemon.metrics.refusals.get();
  return metric.values.find((value) => value.labels.reason === reason)?.value ?? 0;
}

/** The passive-ports-in-use gauge. */
export async function countPortsInUse(daemon: RunningDaemon): Promise<number> {
  return (await daemon.metrics.passivePortsInUse.get()).values[0]?.value ?? Number.NaN;
}
