/** The primary's live view of `workers: N`: every worker asked, the answers merged, a silent worker named. */
import { describe, expect, it } from 'vitest';
import { LIVE_REPLY_TIMEOUT_MS, type LiveWorker, parseLiveReply, WorkerLiveView } from '../../../src/daemon/worker-live-view.js';
import { parseLiveRequest } from '../../../src/daemon/worker-messages.js';
import { type LiveSessionRow, type LiveSessionsDocument, mergeLiveDocuments } from '../../../src/observability/live-view.js';
import { nextSessionId, setSessionIdPrefix } from '../../../src/session/session-ids.js';

function row(id: string, startedAt: string, user: string | null = 'scott'): LiveSessionRow {
  return { id, site: 'default', client: '127.0.0.1:40000', user, state: 'idle', startedAt, seconds: 1, transfer: null, data: null };
}

function documentOf(sessions: LiveSessionRow[], total = sessions.length): LiveSessionsDocument {
  return { generatedAt: '2026-01-01T00:00:10.000Z', total, limit: 200, omitted: total - sessions.length, sessions };
}

const WALL = Date.parse('2026-01-01T00:00:11.000Z');

describe('mergeLiveDocuments', () => {
  it('merges oldest first (ties by id), sums the totals, and names the workers that did not answer', () => {
    const worker0 = documentOf([row('0-1', '2026-01-01T00:00:01.000Z'), row('0-2', '2026-01-01T00:00:05.000Z')]);
    const worker1 = documentOf([row('1-1', '2026-01-01T00:00:03.000Z'), row('1-2', '2026-01-01T00:00:05.000Z')]);
    const merged = mergeLiveDocuments([worker0, worker1], ['worker 2 (pid 7)'], WALL);
    expect(merged.sessions.map((session) => session.id)).toEqual(['0-1', '1-1', '0-2', '1-2']);
    expect(merged).toMatchObject({ generatedAt: '2026-01-01T00:00:11.000Z', total: 4, limit: 200, omitted: 0, unanswered: ['worker 2 (pid 7)'] });
  });

  it('the cap holds for the total: at most `limit` listed, the rest (their own omitted too) counted', () => {
    const seconds = (n: number): string => new Date(Date.parse('2026-01-01T00:00:00.000Z') + n * 1000).toISOString();
    // Worker 0 has 5 sessions and lists its oldest 3 (its own limit); worker 1 has 2.
    const worker0 = documentOf([row('0-1', seconds(1)), row('0-2', seconds(3)), row('0-3', seconds(5))], 5);
    const worker1 = documentOf([row('1-1', seconds(2)), row('1-2', seconds(4))]);
    const merged = mergeLiveDocuments([worker0, worker1], [], WALL, 3);
    expect(merged.sessions.map((session) => session.id)).toEqual(['0-1', '1-1', '0-2']);
    expect(merged).toMatchObject({ total: 7, limit: 3, omitted: 4, unanswered: [] });
  });
});

/** A worker whose answer the test controls: `answer` is called with each request. */
function fakeWorker(index: number, answer: ((id: number) => void) | undefined, running = true): LiveWorker {
  const pid = running ? 100 + index : undefined;
  return {
    index,
    pid,
    send: (message) => {
      if (pid === undefined) return false;
      const request = parseLiveRequest(message);
      if (request !== undefined && answer !== undefined) queueMicrotask(() => answer(request.id));
      return true;
    },
  };
}

describe('WorkerLiveView', () => {
  it('asks every worker and serves the merge; a silent worker is named after the bounded wait, one not running at once', async () => {
    const workers: LiveWorker[] = [];
    const view = new WorkerLiveView(() => workers, 100);
    const reply = (document: LiveSessionsDocument) => (id: number) => view.receive({ ftpmasq: 'live-reply', id, document });
    workers.push(
      fakeWorker(0, reply(documentOf([row('0-1', '2026-01-01T00:00:02.000Z')]))),
      fakeWorker(1, reply(documentOf([row('1-1', '2026-01-01T00:00:01.000Z', null)]))),
      fakeWorker(2, undefined),
      fakeWorker(3, undefined, false),
    );
    const startedAt = Date.now();
    const merged = await view.render();
    const waitedMs = Date.now() - startedAt;
    expect(merged.sessions.map((session) => [session.id, session.user])).toEqual([['1-1', null], ['0-1', 'scott']]);
    expect(merged.total).toBe(2);
    expect(merged.unanswered).toEqual(['worker 2 (pid 102)', 'worker 3 (not running)']);
    expect(waitedMs).toBeGreaterThanOrEqual(90);
    expect(waitedMs).toBeLessThan(1000);
    // A late answer to a request that timed out is taken and dropped.
    expect(view.receive({ ftpmasq: 'live-reply', id: 3, document: documentOf([]) })).toBe(true);
  });

  it('waits at most a second by default', () => {
    expect(LIVE_REPLY_TIMEOUT_MS).toBe(1000);
  });

  it.each([
    { title: 'a health message', message: { ftpmasq: 'health', ready: true, detail: 'ready' } },
    { title: 'no document', message: { ftpmasq: 'live-reply', id: 1 } },
    { title: 'a row without an id', message: { ftpmasq: 'live-reply', id: 1, document: documentOf([{ ...row('x', 'y'), id: undefined } as unknown as LiveSessionRow]) } },
    { title: 'an unknown state', message: { ftpmasq: 'live-reply', id: 1, document: documentOf([{ ...row('x', 'y'), state: 'dancing' } as unknown as LiveSessionRow]) } },
    { title: 'negative bytes', message: { ftpmasq: 'live-reply', id: 1, document: documentOf([{ ...row('x', 'y'), data: { bytes: -1, bytesToClient: 0, bytesToServer: 0, bytesPerSecond: 0, seconds: 0 } }]) } },
  ])('parseLiveReply refuses $title', ({ message }) => {
    expect(parseLiveReply(message)).toBeUndefined();
  });
});

describe('session ids', () => {
  it("carry a worker's prefix once it is set, so two workers' ids never collide", () => {
    setSessionIdPrefix('1-');
    try {
      expect(nextSessionId()).toMatch(/^1-[0-9a-z]+$/);
    } finally {
      setSessionIdPrefix('');
    }
    expect(nextSessionId()).toMatch(/^[0-9a-z]+$/);
  });
});
