/**
 * The live view of `workers: N` (docs/DESIGN.md, "Live view"): each worker knows only its own
 * sessions, so the primary asks every worker for its document at each request, waits at most
 * LIVE_REPLY_TIMEOUT_MS for each, and serves their merge (mergeLiveDocuments): the same JSON and
 * page as one process, with the workers that did not answer named instead of waited for.
 */
import { z } from 'zod';
import type { LiveSessions } from '../observability/http-server.js';
import { type LiveSessionsDocument, mergeLiveDocuments } from '../observability/live-view.js';
import type { LiveRequestMessage } from './worker-messages.js';

/** A worker is an idle event loop between its sessions' events: a second is far beyond an answer. */
export const LIVE_REPLY_TIMEOUT_MS = 1000;

/** Worker to primary: its own document, for the request `id`. */
export interface LiveReplyMessage {
  readonly ftpmasq: 'live-reply';
  readonly id: number;
  readonly document: LiveSessionsDocument;
}

/** One worker as the view asks it: `send` is false when it cannot be asked (not running, channel closed). */
export interface LiveWorker {
  readonly index: number;
  readonly pid: number | undefined;
  send(message: LiveRequestMessage): boolean;
}

const count = z.number().int().nonnegative();
const liveRow = z.object({
  id: z.string(),
  site: z.string(),
  client: z.string(),
  user: z.string().nullable(),
  state: z.enum(['connecting', 'greeting', 'login', 'idle', 'command', 'transfer', 'closing']),
  startedAt: z.string(),
  seconds: count,
  transfer: z.object({ verb: z.string(), argument: z.string() }).nullable(),
  data: z.object({ bytes: count, bytesToClient: count, bytesToServer: count, bytesPerSecond: count, seconds: count }).nullable(),
});
const liveReply = z.object({
  ftpmasq: z.literal('live-reply'),
  id: count,
  document: z.object({ generatedAt: z.string(), total: count, limit: count, omitted: count, sessions: z.array(liveRow) }),
});

/** A worker's reply read back; a message of another kind, or a malformed reply, is undefined. */
export function parseLiveReply(message: unknown): LiveReplyMessage | undefined {
  const parsed = liveReply.safeParse(message);
  return parsed.success ? parsed.data : undefined;
}

export class WorkerLiveView implements LiveSessions {
  private lastId = 0;
  /** Requests in flight, each removed by its answer or its timeout. */
  private readonly waiting = new Map<number, (document: LiveSessionsDocument | undefined) => void>();

  constructor(
    private readonly workers: () => readonly LiveWorker[],
    private readonly timeoutMs = LIVE_REPLY_TIMEOUT_MS,
  ) {}

  async render(): Promise<LiveSessionsDocument> {
    const answers = await Promise.all(this.workers().map(async (worker) => ({ worker, document: await this.ask(worker) })));
    const documents: LiveSessionsDocument[] = [];
    const unanswered: string[] = [];
    for (const { worker, document } of answers) {
      if (document !== undefined) documents.push(document);
      else unanswered.push(worker.pid === undefined ? `worker ${worker.index} (not running)` : `worker ${worker.index} (pid ${worker.pid})`);
    }
    return mergeLiveDocuments(documents, unanswered, Date.now());
  }

  /** A message from a worker: true when it was a live reply (answered or late); a malformed one is not, and its request times out. */
  receive(message: unknown): boolean {
    const reply = parseLiveReply(message);
    if (reply !== undefined) this.waiting.get(reply.id)?.(reply.document);
    return reply !== undefined;
  }

  private ask(worker: LiveWorker): Promise<LiveSessionsDocument | undefined> {
    const id = ++this.lastId;
    return new Promise((resolve) => {
      const finish = (document: LiveSessionsDocument | undefined): void => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(document);
      };
      const timer = setTimeout(() => finish(undefined), this.timeoutMs);
      this.waiting.set(id, finish);
      if (!worker.send({ ftpmasq: 'live-request', id })) finish(undefined);
    });
  }
}
