/**
 * What the workers of `--workers 2` share through the primary (docs/DESIGN.md, "Workers"): the
 * session counts of maxSessions and maxSessionsPerClient, exact across workers whichever of them
 * takes a connection; and the live view, every worker's sessions in one /sessions and page.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type LocalFtpmasq, startLocalFtpmasq } from '../helpers/ftpmasq-process.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { type Endpoint, RawFtpClient, waitUntil } from '../helpers/raw-ftp-client.js';
import { beginDownload, httpGet, patternedFile, seriesValue, sha256, trickleScript } from './support/daemon-fixtures.js';
import { useSpawnedCli } from './support/spawned-cli.js';
import { type StartedWorkers, waitForTwoWorkers } from './support/workers-cli.js';

// This file's passive ranges: 31000-31099.
const { scripted } = createProxyHarness({ passivePorts: '31090-31099' });

const SLOW_FILE = patternedFile(40 * 16_384, 7);
const FILES = new Map([
  ['small.bin', patternedFile(64 * 1024, 3)],
  ['slow.bin', SLOW_FILE],
]);
const TRICKLE = { chunkBytes: 16_384, gapMs: 20 };
/** Connections tried, at most, until each worker has taken one: round robin alternates them. */
const MAX_ATTEMPTS = 10;

let proxy: LocalFtpmasq | undefined;
const { clients, configFile } = useSpawnedCli('fmq-workers-shared-', { workers: '2' }, () => {
  const taken = proxy;
  proxy = undefined;
  return taken;
});

async function startWorkers(path: string): Promise<StartedWorkers> {
  proxy = await startLocalFtpmasq(['--config', path]);
  return waitForTwoWorkers(proxy);
}

/** A connection the proxy refuses: its one reply, then the end. */
async function refusedReply(control: Endpoint): Promise<string> {
  const client = await RawFtpClient.connect(control);
  clients.push(client);
  const reply = await client.readReply();
  await client.closed;
  return reply.text;
}

/** The workers that logged `message`, each with how many times. */
function workersLogging(message: string): Map<number, number> {
  const counts = new Map<number, number>();
  for (const record of proxy?.logRecords ?? []) {
    const worker = record['worker'];
    if (record['msg'] === message && typeof worker === 'number') counts.set(worker, (counts.get(worker) ?? 0) + 1);
  }
  return counts;
}

/** Refused connections until both workers have refused one (at most MAX_ATTEMPTS); returns the replies. */
async function refusedByBothWorkers(control: Endpoint, logLine: string): Promise<string[]> {
  const replies: string[] = [];
  while (replies.length < MAX_ATTEMPTS && workersLogging(logLine).size < 2) {
    replies.push(await refusedReply(control));
    const seen = replies.length;
    await waitUntil(async () => [...workersLogging(logLine).values()].reduce((sum, count) => sum + count, 0) >= seen, 5000, () => 'no refusal logged');
  }
  expect([...workersLogging(logLine).keys()].sort()).toEqual([0, 1]);
  return replies;
}

describe('--workers 2: admission limits across workers', () => {
  it('maxSessionsPerClient 1 from one address: the second session is refused whichever worker takes it; after it ends, a new one is admitted', async () => {
    const upstream = await scripted(trickleScript(FILES, TRICKLE));
    const started = await startWorkers(configFile({ upstream: upstream.address, passivePorts: '31000-31009', maxSessionsPerClient: '1' }));
    const first = await RawFtpClient.open(started.control);
    clients.push(first);
    const replies = await refusedByBothWorkers(started.control, 'client session limit reached');
    for (const reply of replies) expect(reply).toBe('421 Too many connections from your address, try again later.\r\n');
    const exposition = (await httpGet(started.metrics, '/metrics')).body;
    expect(seriesValue(exposition, 'ftpmasq_refusals_total{site="default",reason="client_session_limit"}')).toBe(replies.length);
    // The session itself is untouched, and its end frees the address's one session.
    await first.login();
    await first.close();
    await waitUntil(
      async () => {
        const next = await RawFtpClient.connect(started.control);
        clients.push(next);
        const reply = await next.readReply();
        return reply.code === 220;
      },
      5000,
      () => 'no session admitted after the first one ended',
    );
  });

  it("a killed worker's sessions stop counting: the primary drops them, and the address is admitted again", async () => {
    const upstream = await scripted(trickleScript(FILES, TRICKLE));
    const started = await startWorkers(configFile({ upstream: upstream.address, passivePorts: '31040-31049', maxSessionsPerClient: '1' }));
    const held = await RawFtpClient.open(started.control);
    clients.push(held);
    const start = await proxy?.waitForRecord((record) => record['msg'] === 'session start', 5000);
    const holder = start?.['pid'];
    expect(holder).toBeTypeOf('number');
    expect(await refusedReply(started.control)).toBe('421 Too many connections from your address, try again later.\r\n');
    process.kill(Number(holder), 'SIGKILL');
    const dropped = await proxy?.waitForRecord((record) => record['msg'] === "a dead worker's sessions no longer count towards the limits", 5000);
    expect(dropped).toMatchObject({ worker: start?.['worker'], sessions: 1 });
    // The surviving worker admits the address again (the replacement too, once it is up).
    await waitUntil(
      async () => {
        const next = await RawFtpClient.connect(started.control);
        clients.push(next);
        return (await next.readReply()).code === 220;
      },
      5000,
      () => 'the dead worker\'s session still counted',
    );
  });

  it('maxSessions 3 holds across workers; after sessions end, new ones are admitted on both', async () => {
    const upstream = await scripted(trickleScript(FILES, TRICKLE));
    const started = await startWorkers(configFile({ upstream: upstream.address, passivePorts: '31010-31019', maxSessions: '3' }));
    const running = [];
    for (let index = 0; index < 3; index++) {
      const client = await RawFtpClient.open(started.control);
      clients.push(client);
      running.push(client);
    }
    const replies = await refusedByBothWorkers(started.control, 'session limit reached');
    for (const reply of replies) expect(reply).toBe('421 Too many connections, try again later.\r\n');
    for (const client of running) await client.close();
    // Three again, once the primary has heard of the ends (the first admitted one is kept open).
    await waitUntil(
      async () => {
        const probe = await RawFtpClient.connect(started.control);
        clients.push(probe);
        return (await probe.readReply()).code === 220;
      },
      5000,
      () => 'no session admitted after the three ended',
    );
    const again = [];
    for (let index = 0; index < 2; index++) {
      const client = await RawFtpClient.connect(started.control);
      clients.push(client);
      again.push((await client.readReply()).code);
    }
    expect(again).toEqual([220, 220]);
  });
});

/** What this test reads of /sessions. */
const sessionsJson = z.object({
  total: z.number(),
  omitted: z.number(),
  unanswered: z.array(z.string()),
  sessions: z.array(z.object({ id: z.string(), user: z.string().nullable(), data: z.object({ bytes: z.number() }).nullable() })),
});

describe('--workers 2: the live view', () => {
  it('/sessions lists the sessions of both workers with their user and bytes, ids unique; the page renders', async () => {
    const upstream = await scripted(trickleScript(FILES, TRICKLE));
    // Worker 0 owns 31020-31024, worker 1 31025-31029.
    const started = await startWorkers(configFile({ upstream: upstream.address, passivePorts: '31020-31029' }));
    const bySlice = new Map<number, RawFtpClient>();
    for (let attempt = 0; attempt < MAX_ATTEMPTS && bySlice.size < 2; attempt++) {
      const client = await RawFtpClient.open(started.control);
      clients.push(client);
      await client.login();
      const probe = await client.pasv();
      const slice = probe.port <= 31024 ? 0 : 1;
      if (bySlice.has(slice)) await client.close();
      else bySlice.set(slice, client);
    }
    expect([...bySlice.keys()].sort()).toEqual([0, 1]);
    const downloads = await Promise.all([...bySlice.values()].map((client) => beginDownload(client, 'slow.bin')));
    await waitUntil(async () => downloads.every((download) => download.data.bytesReceived > 0), 5000, () => 'no bytes yet');

    const answer = await httpGet(started.metrics, '/sessions');
    expect(answer.status).toBe(200);
    const document = sessionsJson.parse(JSON.parse(answer.body));
    expect(document).toMatchObject({ total: 2, omitted: 0, unanswered: [] });
    expect(document.sessions.map((session) => session.user)).toEqual(['scott', 'scott']);
    // Each worker's ids carry its index: one session of each, never the same id twice.
    expect(document.sessions.map((session) => session.id.split('-')[0]).sort()).toEqual(['0', '1']);
    for (const session of document.sessions) expect(session.data?.bytes).toBeGreaterThan(0);

    const page = await httpGet(started.metrics, '/');
    expect(page.status).toBe(200);
    expect(page.body).toContain('<table');
    for (const download of downloads) {
      const { content, finalCode } = await download.finished;
      expect(finalCode).toBe(226);
      expect(sha256(content)).toBe(sha256(SLOW_FILE));
    }
  });
});
