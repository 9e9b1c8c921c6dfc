/** /metrics, /healthz, /readyz and the live view (/sessions, /) on a loopback socket (port 0), nothing else. */
import { createHash } from 'node:crypto';
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningHttpServer, startHttpServer } from '../../../src/observability/http-server.js';
import { LIVE_PAGE_CSP, LIVE_PAGE_HTML } from '../../../src/observability/live-page.js';
import type { LiveSessionsDocument } from '../../../src/observability/live-view.js';
import { Metrics } from '../../../src/observability/metrics.js';

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

function request(server: RunningHttpServer, path: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: server.address.host, port: server.address.port, path, method, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

describe('startHttpServer', () => {
  let server: RunningHttpServer | undefined;
  let ready = { ready: true, detail: 'ready' };
  const metrics = new Metrics({ defaultMetrics: false });
  const start = async (): Promise<RunningHttpServer> => {
    server = await startHttpServer({ host: '127.0.0.1', port: 0 }, metrics, { ready: () => ready });
    return server;
  };
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves the registry in the Prometheus text format on /metrics', async () => {
    const running = await start();
    metrics.forSite('default').rewrite('pasv');
    const answer = await request(running, '/metrics');
    expect(answer.status).toBe(200);
    expect(answer.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(answer.body).toContain('# HELP ftpmasq_rewrites_total ');
    expect(answer.body).toMatch(/^ftpmasq_rewrites_total\{site="default",kind="pasv"\} 1$/m);
    expect((await request(running, '/metrics?x=1')).status).toBe(200);
  });

  it('answers /healthz 200 whatever the upstream does', async () => {
    const running = await start();
    ready = { ready: false, detail: 'upstream unreachable: ECONNREFUSED' };
    expect(await request(running, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('answers /readyz 200 or 503 with the detail, and ftpmasq_ready agrees', async () => {
    const running = await start();
    ready = { ready: true, detail: 'ready' };
    expect(await request(running, '/readyz')).toMatchObject({ status: 200, body: 'ready\n' });
    expect((await request(running, '/metrics')).body).toMatch(/^ftpmasq_ready 1$/m);
    ready = { ready: false, detail: 'upstream unreachable: connect ECONNREFUSED 10.0.11.251:21' };
    expect(await request(running, '/readyz')).toMatchObject({
      status: 503,
      body: 'upstream unreachable: connect ECONNREFUSED 10.0.11.251:21\n',
    });
    expect((await request(running, '/metrics')).body).toMatch(/^ftpmasq_ready 0$/m);
  });

  it.each([
    { title: 'the live page without a live view', path: '/', method: 'GET', status: 404 },
    { title: '/sessions without a live view', path: '/sessions', method: 'GET', status: 404 },
    { title: 'an unknown path', path: '/x', method: 'GET', status: 404 },
    { title: 'a near miss', path: '/metrics/', method: 'GET', status: 404 },
    { title: 'POST', path: '/metrics', method: 'POST', status: 405 },
    { title: 'HEAD', path: '/healthz', method: 'HEAD', status: 200 },
  ])('answers $title with $status', async ({ path, method, status }) => {
    const running = await start();
    expect((await request(running, path, method)).status).toBe(status);
  });

  describe('the live view', () => {
    const document: LiveSessionsDocument = {
      generatedAt: '2026-01-01T00:00:00.000Z',
      total: 1,
      limit: 200,
      omitted: 0,
      sessions: [
        {
          id: '1',
          site: 'default',
          client: '127.0.0.1:40000',
          user: '<b>x</b>',
          state: 'idle',
          startedAt: '2026-01-01T00:00:00.000Z',
          seconds: 0,
          transfer: null,
          data: null,
        },
      ],
    };
    const startLive = async (): Promise<RunningHttpServer> => {
      server = await startHttpServer({ host: '127.0.0.1', port: 0 }, metrics, { ready: () => ready }, { render: () => document });
      return server;
    };

    it('/sessions: the document as JSON, markup characters escaped, not cached', async () => {
      const running = await startLive();
      const answer = await request(running, '/sessions');
      expect(answer.status).toBe(200);
      expect(answer.contentType).toBe('application/json; charset=utf-8');
      expect(answer.body).not.toContain('<b>');
      expect(JSON.parse(answer.body)).toEqual(document);
    });

    it('/sessions: a view that fails answers 500 and the server goes on', async () => {
      const failing = { render: (): LiveSessionsDocument => { throw new Error('boom'); } };
      const running = await startHttpServer({ host: '127.0.0.1', port: 0 }, metrics, { ready: () => ready }, failing);
      server = running;
      expect(await request(running, '/sessions')).toMatchObject({ status: 500, body: 'sessions failed: Error: boom\n' });
      expect((await request(running, '/healthz')).status).toBe(200);
    });

    it('/sessions: a view that answers later (the primary of workers) is awaited; one that rejects answers 500', async () => {
      const later = { render: async (): Promise<LiveSessionsDocument> => ({ ...document, unanswered: ['worker 1 (pid 9)'] }) };
      const running = await startHttpServer({ host: '127.0.0.1', port: 0 }, metrics, { ready: () => ready }, later);
      server = running;
      const answer = await request(running, '/sessions');
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ ...document, unanswered: ['worker 1 (pid 9)'] });
      const rejecting = { render: (): Promise<LiveSessionsDocument> => Promise.reject(new Error('no workers')) };
      const second = await startHttpServer({ host: '127.0.0.1', port: 0 }, metrics, { ready: () => ready }, rejecting);
      try {
        expect(await request(second, '/sessions')).toMatchObject({ status: 500, body: 'sessions failed: Error: no workers\n' });
      } finally {
        await second.close();
      }
    });

    it('/: the page with a strict policy that allows exactly its own script and style', async () => {
      const running = await startLive();
      const answer = await request(running, '/');
      expect(answer.status).toBe(200);
      expect(answer.contentType).toBe('text/html; charset=utf-8');
      expect(answer.body).toBe(LIVE_PAGE_HTML);
      const hash = (source: string): string => `'sha256-${createHash('sha256').update(source).digest('base64')}'`;
      const script = /<script>([\s\S]*)<\/script>/.exec(answer.body)?.[1] ?? '';
      const style = /<style>([\s\S]*)<\/style>/.exec(answer.body)?.[1] ?? '';
      expect(LIVE_PAGE_CSP).toContain("default-src 'none'");
      expect(LIVE_PAGE_CSP).toContain(`script-src ${hash(script)}`);
      expect(LIVE_PAGE_CSP).toContain(`style-src ${hash(style)}`);
      expect(LIVE_PAGE_CSP).toContain("connect-src 'self'");
      expect(LIVE_PAGE_CSP).not.toMatch(/unsafe|https?:|\*/);
      // No external asset: nothing in the page names another origin, and it never writes markup.
      expect(answer.body).not.toMatch(/(src|href)=|https?:\/\/|innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    });

    it('/ sends the policy and the other protective headers', async () => {
      const running = await startLive();
      const headers = await new Promise<http.IncomingHttpHeaders>((resolve, reject) => {
        http.get({ host: running.address.host, port: running.address.port, path: '/' }, (res) => {
          res.resume();
          resolve(res.headers);
        }).on('error', reject);
      });
      expect(headers).toMatchObject({
        'content-security-policy': LIVE_PAGE_CSP,
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
        'cache-control': 'no-store',
      });
    });
  });

  it('reports the bound port when asked for port 0, and closes', async () => {
    const running = await start();
    expect(running.address.port).toBeGreaterThan(0);
    await running.close();
    await expect(request(running, '/healthz')).rejects.toThrow();
    server = undefined;
  });
});
