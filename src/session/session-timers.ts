import type { SiteConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { RefusalReason, SiteMetrics } from '../observability/metrics.js';

export type SessionTimeout = 'greeting' | 'login' | 'idle' | 'reply';

/** What the client gets when each clock runs out; the session closes after it. */
export const TIMEOUT_REPLIES: Readonly<Record<SessionTimeout, string>> = {
  greeting: '421 Service not available: the server did not greet in time.\r\n',
  login: '421 Login timed out.\r\n',
  idle: '421 Idle timeout, closing control connection.\r\n',
  reply: '421 Service not available: the server did not answer in time.\r\n',
};

export type TimeoutLimits = Pick<SiteConfig, 'greetingTimeoutMs' | 'loginTimeoutMs' | 'idleTimeoutMs'> &
  Partial<Pick<SiteConfig, 'replyTimeoutMs'>>;

/** Node runs a timer with a longer delay after 1 ms: a later deadline is checked this soon instead. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/**
 * A session's four clocks:
 * - greeting: from the upstream accepting TCP until its first complete reply;
 * - login: from that reply until a 230;
 * - idle: no command from the client for the limit while nothing is in flight (never while a
 *   transfer runs; `becameIdle()` starts it again when the session has nothing in flight);
 * - reply: while the upstream owes a reply and no data connection is open, from the last sign of
 *   progress (a command sent when none was owed, an upstream line, a data connection ending).
 *   A server that silently drops a line (ProFTPD and a line over its buffer) cannot leave the
 *   client waiting forever; a long transfer is not cut, since its data is the progress.
 * They share one timer, set for the earliest deadline and re-armed only when it fires: the
 * events that move a deadline (a reply, a command) just record the time. A short session costs
 * one setTimeout and one clearTimeout; a busy one does not re-arm a timer per command.
 */
export class SessionTimers {
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private connectedAt: number | undefined;
  private greetedAt: number | undefined;
  private loggedIn = false;
  private lastActivity = performance.now();
  private lastReplyProgress = performance.now();
  private stopped = false;

  /** `awaitsReply`: the upstream owes a reply and no data connection of the session is open. */
  constructor(
    private readonly limits: TimeoutLimits,
    private readonly isIdle: () => boolean,
    private readonly onExpired: (timeout: SessionTimeout) => void,
    private readonly awaitsReply: () => boolean = () => false,
  ) {}

  upstreamConnected(): void {
    this.connectedAt = performance.now();
    this.schedule(this.connectedAt + this.limits.greetingTimeoutMs);
  }

  /** The last line of an upstream reply passed, with its code. */
  replied(code: number): void {
    if (this.greetedAt === undefined) {
      this.greetedAt = performance.now();
      this.schedule(this.greetedAt + this.limits.loginTimeoutMs);
    }
    if (code === 230) this.loggedIn = true;
  }

  /**
   * The upstream showed progress, or now owes a reply when it owed none: the reply clock runs
   * from now. Cheap enough for every upstream line: the timer is re-armed only when it fires.
   */
  replyProgress(): void {
    this.lastReplyProgress = performance.now();
    if (this.limits.replyTimeoutMs !== undefined) this.schedule(this.lastReplyProgress + this.limits.replyTimeoutMs);
  }

  /** A client command arrived. */
  commandReceived(): void {
    this.lastActivity = performance.now();
  }

  /** Nothing is in flight any more: the idle clock runs from now. */
  becameIdle(): void {
    this.lastActivity = performance.now();
    this.schedule(this.lastActivity + this.limits.idleTimeoutMs);
  }

  clear(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Makes sure the timer fires no later than `at`. */
  private schedule(at: number): void {
    if (this.stopped || (this.timer !== undefined && this.timerAt <= at)) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    const delay = Math.min(Math.max(0, at - performance.now()), MAX_TIMER_DELAY_MS);
    this.timer = setTimeout(() => this.onTimer(), delay);
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.stopped) return;
    const now = performance.now();
    const { greetingTimeoutMs, loginTimeoutMs, idleTimeoutMs, replyTimeoutMs } = this.limits;
    if (this.connectedAt !== undefined && this.greetedAt === undefined) {
      if (now >= this.connectedAt + greetingTimeoutMs) return this.expire('greeting');
      this.schedule(this.connectedAt + greetingTimeoutMs);
    }
    if (this.greetedAt !== undefined && !this.loggedIn) {
      if (now >= this.greetedAt + loginTimeoutMs) return this.expire('login');
      this.schedule(this.greetedAt + loginTimeoutMs);
    }
    if (replyTimeoutMs !== undefined && this.greetedAt !== undefined && this.awaitsReply()) {
      if (now >= this.lastReplyProgress + replyTimeoutMs) return this.expire('reply');
      this.schedule(this.lastReplyProgress + replyTimeoutMs);
    }
    if (this.isIdle()) {
      if (now >= this.lastActivity + idleTimeoutMs) return this.expire('idle');
      this.schedule(this.lastActivity + idleTimeoutMs);
    }
  }

  private expire(timeout: SessionTimeout): void {
    this.clear();
    this.onExpired(timeout);
  }
}

/** Where a clock that ran out is reported. */
export interface TimeoutReporting {
  readonly metrics: Pick<SiteMetrics, 'upstreamError'>;
  readonly log: Pick<Logger, 'error'>;
  readonly refuse: (reason: RefusalReason, details: Readonly<Record<string, unknown>>) => void;
}

/**
 * The greeting and reply clocks are the upstream's failures (upstream_errors_total); the login
 * and idle clocks are the client's (refusals_total).
 */
export function reportTimeout(timeout: SessionTimeout, site: SiteConfig, { metrics, log, refuse }: TimeoutReporting): void {
  switch (timeout) {
    case 'greeting':
      metrics.upstreamError('greeting_timeout');
      log.error({ timeoutMs: site.greetingTimeoutMs }, 'upstream did not greet in time');
      return;
    case 'reply':
      metrics.upstreamError('reply_timeout');
      log.error({ timeoutMs: site.replyTimeoutMs }, 'upstream did not answer in time');
      return;
    case 'login':
      refuse('login_timeout', { timeoutMs: site.loginTimeoutMs });
      return;
    case 'idle':
      refuse('idle_timeout', { timeoutMs: site.idleTimeoutMs });
      return;
  }
}
