import http from 'node:http';
import type { Endpoint } from '../config/values.js';
import { LIVE_PAGE_HEADERS, LIVE_PAGE_HTML } from './live-page.js';
import { formatLiveJson, type LiveSessionsDocument } from './live-view.js';
/**
 * What /metrics serves: one process's Metrics, or the sum over every worker (worker-pool.ts).
 * `setReadinessProbe` lets `ftpmasq_ready` give the answer /readyz gives.
 */
export interface MetricsSource {
  readonly registry: { metrics(): Promise<string>; readonly contentType: string };
  setReadinessProbe(probe: () => boolean): void;
}

export interface HealthState {
  /** Listeners bound and the upstream answered its last check. */
  readonly ready: () => { ready: boolean; detail: string };
}

export interface RunningHttpServer {
  readonly address: Endpoint;
  close(): Promise<void>;
}

/** The live view's document of the sessions now (live-view.ts): the daemon's LiveView, or the primary's merge of its workers'. */
export interface LiveSessions {
  render(): LiveSessionsDocument | Promise<LiveSessionsDocument>;
}

/**
 * /metrics (Prometheus text format), /healthz (the process answers), /readyz (listeners up and
 * upstream reachable at the last check) and, given `live`, the live view: /sessions (JSON) and /
 * (the page over it). Nothing else is served.
 */
export async function startHttpServer(
  endpoint: Endpoint,
  metrics: MetricsSource,
  health: HealthState,
  live?: LiveSessions,
): Promise<RunningHttpServer> {
  metrics.setReadinessProbe(() => health.ready().ready);
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    switch (path) {
      case '/metrics':
        metrics.registry.metrics().then(
          (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
          (error: unknown) =>
            response.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(error)}\n`),
        );
        return;
      case '/healthz':
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
        return;
      case '/readyz': {
        const state = health.ready();
        response.writeHead(state.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${state.detail}\n`);
        return;
      }
      case '/sessions':
        if (live === undefined) break;
        answerSessions(response, live);
        return;
      case '/':
        if (live === undefined) break;
        response.writeHead(200, LIVE_PAGE_HEADERS).end(LIVE_PAGE_HTML);
        return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: endpoint.host, port: endpoint.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new Error('metrics listener has no TCP address');
  return {
    address: { host: bound.address, port: bound.port },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A failure while reading the sessions is the view's alone: a 500, never an exception in the server. */
function answerSessions(response: http.ServerResponse, live: LiveSessions): void {
  // A throwing render() and a rejected one end alike.
  new Promise<LiveSessionsDocument>((resolve) => resolve(live.render())).then(
    (document) =>
      response
        .writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
        .end(formatLiveJson(document)),
    (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`sessions failed: ${String(error)}\n`),
  );
}
