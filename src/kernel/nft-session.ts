import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observability/logger.js';
import type { NftRestartReason } from '../observability/metric-labels.js';
import type { NftPriority, NftRequests, NftResult } from './nft-command.js';
import { NftReplyFramer, type NftReply, SENTINEL_COMMAND } from './nft-reply-framer.js';
import { LIST_COUNTERS_COMMANDS, type NftCommand } from './nft-ruleset.js';

export type { NftRestartReason };

export interface NftSessionOptions {
  /** The nft executable; `nft` on the PATH by default. */
  readonly executable?: string;
  /** A request not answered within this is failed, and the process killed (the next request starts another). */
  readonly timeoutMs?: number;
  /** The shortest time between two starts of the process: a crashing nft is not restarted in a loop. */
  readonly restartIntervalMs?: number;
  /** nft's line editor keeps every input line as history for the life of the process: after this many requests a fresh one takes over. */
  readonly maxRequests?: number;
  /** Each process started (the first and every restart). */
  readonly onStart?: () => void;
  /** Each process ended because it failed a request. */
  readonly onRestart?: (reason: NftRestartReason) => void;
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_RESTART_INTERVAL_MS = 1000;
const DEFAULT_MAX_REQUESTS = 5000;
/** A counter listing of thousands of transfers is a few hundred KiB; a runaway one is cut. */
const MAX_REPLY_BYTES = 4 * 1024 * 1024;
/** How long a closing nft may take to finish its last line before it is killed. */
const CLOSE_GRACE_MS = 1000;

interface Job {
  readonly line: string;
  readonly resolve: (result: NftResult) => void;
}

/** One running `nft -j -i`, with the request it is answering. */
interface Child {
  readonly process: ChildProcess;
  readonly framer: NftReplyFramer;
  readonly exited: Promise<void>;
  requests: number;
  /** Ended on purpose (failed, retired, closed): its exit is no news. */
  ending: boolean;
  /** Settles the request in flight with nft's reply, or with why there is none. */
  answer: ((outcome: NftReply | { readonly failure: string; readonly reason: NftRestartReason }) => void) | undefined;
}

/**
 * The kernel calls of kernel mode through ONE long-lived `nft -j -i`, fed over a pipe: a transfer
 * costs a pipe write and a read, not a fork and exec. Each request is one JSON line (nft runs each
 * line as its own transaction), followed by the sentinel that ends its reply (nft-reply-framer.ts).
 * One request is in flight at a time, so a reply is always the head request's; urgent requests
 * overtake queued background ones (as NftRunner's runs do). A request is bounded by `timeoutMs`:
 * then it fails, the process is killed, counted and logged, and the next request starts a new one,
 * never sooner than `restartIntervalMs` after the last start. `close()` is the one end.
 */
export class NftSession implements NftRequests {
  private readonly queues: Record<NftPriority, Job[]> = { urgent: [], background: [] };
  /** Whether the queue's consumer runs (one request in flight at a time), and its end. */
  private running = false;
  private idle: Promise<void> = Promise.resolve();
  private closed = false;
  private child: Child | undefined;
  /** Every process not yet exited: the current one, and retired or killed ones still going. */
  private readonly children = new Set<Child>();
  private lastStart = Number.NEGATIVE_INFINITY;
  private startCount = 0;
  private readonly executable: string;
  private readonly timeoutMs: number;

  constructor(
    private readonly log: Logger,
    private readonly options: NftSessionOptions = {},
  ) {
    this.executable = options.executable ?? 'nft';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** nft processes started so far: one, unless one failed or was recycled. */
  get started(): number {
    return this.startCount;
  }

  apply(commands: readonly NftCommand[], priority: NftPriority = 'urgent'): Promise<NftResult> {
    return this.request(JSON.stringify({ nftables: commands }), priority);
  }

  listCounters(priority: NftPriority = 'background'): Promise<NftResult> {
    return this.request(JSON.stringify({ nftables: LIST_COUNTERS_COMMANDS }), priority);
  }

  /** Fails what is queued, lets nft finish the line in flight (bounded), then ends it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of [...this.queues.urgent.splice(0), ...this.queues.background.splice(0)]) {
      job.resolve({ ok: false, error: 'nft session closed' });
    }
    // The request in flight is answered (or times out) first.
    await this.idle;
    this.child = undefined;
    await Promise.all(
      [...this.children].map(async (child) => {
        child.ending = true;
        child.process.stdin?.end();
        const exited = await Promise.race([child.exited.then(() => true), sleep(CLOSE_GRACE_MS, false)]);
        if (!exited) child.process.kill('SIGKILL');
        await child.exited;
      }),
    );
  }

  private request(line: string, priority: NftPriority): Promise<NftResult> {
    if (this.closed) return Promise.resolve({ ok: false, error: 'nft session closed' });
    return new Promise((resolve) => {
      this.queues[priority].push({ line, resolve });
      if (this.running) return;
      this.running = true;
      this.idle = this.pump();
    });
  }

  private async pump(): Promise<void> {
    try {
      for (let job = this.next(); job !== undefined; job = this.next()) job.resolve(await this.send(job.line));
    } finally {
      // In the same turn as the last look at the queues: a request queued after it starts a new consumer.
      this.running = false;
    }
  }

  private next(): Job | undefined {
    return this.queues.urgent.shift() ?? this.queues.background.shift();
  }

  private async send(line: string): Promise<NftResult> {
    const child = await this.ready();
    if (child === undefined) return { ok: false, error: 'nft session closed' };
    child.requests++;
    const outcome = await new Promise<NftReply | { readonly failure: string; readonly reason: NftRestartReason }>((resolve) => {
      const timer = setTimeout(() => {
        resolve({ failure: `nft did not answer within ${this.timeoutMs} ms`, reason: 'timeout' });
      }, this.timeoutMs);
      child.answer = (value) => {
        clearTimeout(timer);
        resolve(value);
      };
      child.process.stdin?.write(`${line}\n${SENTINEL_COMMAND}\n`);
    });
    child.answer = undefined;
    if ('failure' in outcome) {
      this.discard(child, outcome.reason, outcome.failure);
      return { ok: false, error: outcome.failure };
    }
    if (child.requests >= (this.options.maxRequests ?? DEFAULT_MAX_REQUESTS)) this.retire(child);
    if (outcome.errors.length > 0) return { ok: false, error: `nft: ${outcome.errors.slice(0, 3).join(' | ')}` };
    return { ok: true, stdout: outcome.text };
  }

  /** The running process, or a new one once `restartIntervalMs` has passed since the last start. */
  private async ready(): Promise<Child | undefined> {
    if (this.child !== undefined) return this.child;
    const wait = this.lastStart + (this.options.restartIntervalMs ?? DEFAULT_RESTART_INTERVAL_MS) - performance.now();
    if (wait > 0) await sleep(wait);
    if (this.closed) return undefined;
    this.child = this.startChild();
    return this.child;
  }

  private startChild(): Child {
    this.lastStart = performance.now();
    this.startCount++;
    this.options.onStart?.();
    // One pipe for both of nft's outputs keeps its errors in order with its listings. HOME: nft's
    // line editor reads and writes its history file there; nobody's home exists nowhere.
    const nft = spawn('sh', ['-c', 'exec "$0" -j -i 2>&1', this.executable], {
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { ...process.env, HOME: '/nonexistent', TERM: 'dumb' },
    });
    const framer = new NftReplyFramer(MAX_REPLY_BYTES);
    // 'exit', not 'close': a process is gone when it exits, even if something it started still holds its pipe.
    const exited = new Promise<void>((resolve) => nft.once('exit', () => resolve()));
    const child: Child = { process: nft, framer, exited, requests: 0, ending: false, answer: undefined };
    this.children.add(child);
    nft.stdin?.on('error', () => undefined); // EPIPE once nft died: its 'close' reports it.
    nft.stdout?.on('data', (chunk: Buffer) => {
      const { replies, overflow } = framer.push(chunk);
      if (overflow) child.answer?.({ failure: 'nft printed more than a reply can hold', reason: 'overflow' });
      for (const reply of replies) child.answer?.(reply);
    });
    nft.on('error', (error) => child.answer?.({ failure: `cannot run ${this.executable}: ${error.message}`, reason: 'exited' }));
    void exited.then(() => this.children.delete(child));
    nft.once('close', (code, signal) => {
      if (this.child === child) this.child = undefined;
      const how = `${this.executable} exited ${code ?? signal}`;
      if (child.answer !== undefined) {
        const said = framer.pending();
        child.answer({ failure: `${how} in a request${said === '' ? '' : `: ${said}`}`, reason: 'exited' });
      } else if (!child.ending) {
        this.options.onRestart?.('exited');
        this.log.warn({ pid: nft.pid }, `${how} between requests; the next request starts another`);
      }
    });
    this.log.info({ pid: nft.pid }, 'nft started for the kernel forwarding (one process, fed over a pipe)');
    return child;
  }

  /** A failed process: killed (a hung one must not answer a later request), counted, logged. */
  private discard(child: Child, reason: NftRestartReason, why: string): void {
    if (this.child === child) this.child = undefined;
    child.ending = true;
    child.process.kill('SIGKILL');
    child.process.stdout?.destroy();
    if (this.closed) return;
    this.options.onRestart?.(reason);
    this.log.warn({ pid: child.process.pid, reason, err: why }, 'nft ended after a failed request; the next request starts another');
  }

  /** A process that served its share: its input ends, it exits on its own, the next request starts another. */
  private retire(child: Child): void {
    if (this.child === child) this.child = undefined;
    child.ending = true;
    child.process.stdin?.end();
  }
}
