import net from 'node:net';
import type { DaemonConfig, SiteConfig } from './config/types.js';
import type { Endpoint } from './config/values.js';
import { PassivePortPool } from './data/passive-port-pool.js';
import type { Logger } from './observability/logger.js';
import { type RunningHttpServer, startHttpServer } from './observability/http-server.js';
import { Metrics, type SiteMetrics } from './observability/metrics.js';
import { connFromSocket } from './net/conn.js';
import { dial } from './net/dial.js';
import { ControlSession, type SessionContext } from './session/control-session.js';

export interface RunningDaemon {
  /** The bound control listeners (port 0 in the config becomes the real port here). */
  readonly addresses: readonly Endpoint[];
  readonly metrics: Metrics;
  /** Where /metrics, /healthz and /readyz are served; undefined when turned off. */
  readonly metricsAddress: Endpoint | undefined;
  readonly sessionCount: () => number;
  /** Stops accepting, closes every session and releases every port. */
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly logger: Logger;
  readonly metrics?: Metrics;
}

/** Wires listeners, the passive port pool, metrics and sessions for one configuration. */
export async function start(daemonConfig: DaemonConfig, options: StartOptions): Promise<RunningDaemon> {
  const { logger } = options;
  const metrics = options.metrics ?? new Metrics();
  const [config] = daemonConfig.sites;
  if (config === undefined) throw new Error('a configuration without sites');
  const siteMetrics = metrics.forSite(config.name);
  const pool = new PassivePortPool(config.passivePorts, {
    onChange: (inUse) => siteMetrics.passivePorts(inUse, pool.capacity),
  });
  siteMetrics.passivePorts(0, pool.capacity);
  const context: SessionContext = { site: config, pool, metrics: siteMetrics, logger, diagnosis: { unroutablePasvWarned: false } };
  const sessions = new Set<ControlSession>();

  const onConnection = (socket: net.Socket): void => {
    if (sessions.size >= config.maxSessions) {
      siteMetrics.refuse('session_limit');
      logger.warn({ limit: config.maxSessions, client: socket.remoteAddress }, 'session limit reached');
      socket.on('error', () => socket.destroy());
      socket.end('421 Too many connections, try again later.\r\n');
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    const session = new ControlSession(connFromSocket(socket), context, (closed) => sessions.delete(closed));
    sessions.add(session);
    void session.start();
  };

  const servers: net.Server[] = [];
  const addresses: Endpoint[] = [];
  try {
    for (const endpoint of config.listen) {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, onConnection);
      servers.push(server);
      // [::] alone is dual-stack; beside an IPv4 listener on the same port it must be IPv6-only.
      const ipv6Only =
        endpoint.host.includes(':') &&
        config.listen.some((other) => !other.host.includes(':') && other.port === endpoint.port);
      await listen(server, endpoint, ipv6Only);
      const bound = server.address();
      if (bound === null || typeof bound === 'string') throw new Error('listener has no TCP address');
      addresses.push({ host: bound.address, port: bound.port });
      server.on('error', (error) => logger.error({ err: error.message }, 'control listener error'));
    }
  } catch (error) {
    await Promise.all(servers.map((server) => closeServer(server)));
    throw error;
  }

  const upstreamCheck = new UpstreamCheck(config, siteMetrics);
  let httpServer: RunningHttpServer | undefined;
  if (daemonConfig.metricsListen !== undefined) {
    try {
      httpServer = await startHttpServer(daemonConfig.metricsListen, metrics, {
        ready: () => {
          if (!upstreamCheck.reachable) return { ready: false, detail: `upstream unreachable: ${upstreamCheck.lastError}` };
          return { ready: true, detail: 'ready' };
        },
      });
    } catch (error) {
      await Promise.all(servers.map((server) => closeServer(server)));
      const where = `${daemonConfig.metricsListen.host}:${daemonConfig.metricsListen.port}`;
      const code = error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : 'EUNKNOWN';
      throw new ListenError(daemonConfig.metricsListen, code, `cannot listen on ${where} (--metrics-listen): ${String(error)}`);
    }
  }
  upstreamCheck.start();

  let stopping: Promise<void> | undefined;
  return {
    addresses,
    metrics,
    metricsAddress: httpServer?.address,
    sessionCount: () => sessions.size,
    stop() {
      stopping ??= (async () => {
        upstreamCheck.stop();
        const closing = servers.map((server) => closeServer(server));
        if (httpServer !== undefined) closing.push(httpServer.close());
        for (const session of [...sessions]) session.close('shutdown', '421 Service shutting down.\r\n');
        await Promise.all(closing);
      })();
      return stopping;
    },
  };
}

export class ListenError extends Error {
  constructor(
    readonly endpoint: Endpoint,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ListenError';
  }
}

function listen(server: net.Server, endpoint: Endpoint, ipv6Only: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      const where = endpoint.host.includes(':') ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
      reject(new ListenError(endpoint, error.code ?? 'EUNKNOWN', `cannot listen on ${where}: ${error.message}`));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: endpoint.host, port: endpoint.port, ipv6Only, backlog: 1024 });
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}

/**
 * /readyz's view of the upstream: a TCP connect every interval (closed at once, no FTP login),
 * plus the outcome of every real session's connect.
 */
class UpstreamCheck {
  reachable = true;
  lastError = '';
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly config: SiteConfig,
    private readonly metrics: SiteMetrics,
    private readonly intervalMs = 10_000,
  ) {}

  start(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const socket = await dial({
        host: this.config.upstream.host,
        port: this.config.upstream.port,
        timeoutMs: this.config.upstreamConnectTimeoutMs,
        allowHalfOpen: false,
      });
      socket.destroy();
      this.reachable = true;
      this.lastError = '';
    } catch (error) {
      this.reachable = false;
      this.lastError = error instanceof Error ? error.message : String(error);
      this.metrics.upstreamError('connect');
    } finally {
      this.running = false;
    }
  }
}
