import type { SiteConfig } from '../config/types.js';

export type SessionTimeout = 'greeting' | 'login' | 'idle';

/** What the client gets when each clock runs out; the session closes after it. */
export const TIMEOUT_REPLIES: Readonly<Record<SessionTimeout, string>> = {
  greeting: '421 Service not available: the server did not greet in time.\r\n',
  login: '421 Login timed out.\r\n',
  idle: '421 Idle timeout, closing control connection.\r\n',
};

export type TimeoutLimits = Pick<SiteConfig, 'greetingTimeoutMs' | 'loginTimeoutMs' | 'idleTimeoutMs'>;

/** Node runs a timer with a longer delay after 1 ms: a longer limit waits this long instead. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

function timerDelay(ms: number): number {
  return Math.min(ms, MAX_TIMER_DELAY_MS);
}

/**
 * A session's three clocks, one timer each, all stopped by `clear()`:
 * - greeting: from the upstream accepting TCP until its first complete reply;
 * - login: from that reply until a 230;
 * - idle: no command from the client for the limit while nothing is in flight. A command only
 *   records its time; the timer, when it fires, re-arms for what is left, so a busy session does
 *   not re-arm a timer per command. While a transfer runs it is not armed at all: `becameIdle()`
 *   arms it when the session has nothing in flight again.
 */
export class SessionTimers {
  private greetingTimer: NodeJS.Timeout | undefined;
  private loginTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private greeted = false;
  private loggedIn = false;
  private lastActivity = performance.now();
  private stopped = false;

  constructor(
    private readonly limits: TimeoutLimits,
    private readonly isIdle: () => boolean,
    private readonly onExpired: (timeout: SessionTimeout) => void,
  ) {}

  upstreamConnected(): void {
    if (this.stopped) return;
    this.greetingTimer = setTimeout(() => this.expire('greeting'), timerDelay(this.limits.greetingTimeoutMs));
  }

  /** The last line of an upstream reply passed, with its code. */
  replied(code: number): void {
    if (!this.greeted) {
      this.greeted = true;
      clearTimeout(this.greetingTimer);
      if (!this.stopped) this.loginTimer = setTimeout(() => this.expire('login'), timerDelay(this.limits.loginTimeoutMs));
    }
    if (code === 230 && !this.loggedIn) {
      this.loggedIn = true;
      clearTimeout(this.loginTimer);
    }
  }

  /** A client command arrived. */
  commandReceived(): void {
    this.lastActivity = performance.now();
  }

  /** Nothing is in flight any more: the idle clock runs from now. */
  becameIdle(): void {
    this.lastActivity = performance.now();
    this.armIdle(this.limits.idleTimeoutMs);
  }

  clear(): void {
    this.stopped = true;
    clearTimeout(this.greetingTimer);
    clearTimeout(this.loginTimer);
    clearTimeout(this.idleTimer);
  }

  private armIdle(delayMs: number): void {
    if (this.idleTimer !== undefined || this.stopped) return;
    this.idleTimer = setTimeout(() => this.onIdleTimer(), timerDelay(delayMs));
  }

  private onIdleTimer(): void {
    this.idleTimer = undefined;
    if (this.stopped || !this.isIdle()) return;
    const left = this.limits.idleTimeoutMs - (performance.now() - this.lastActivity);
    if (left <= 0) this.expire('idle');
    else this.armIdle(left);
  }

  private expire(timeout: SessionTimeout): void {
    if (this.stopped) return;
    this.clear();
    this.onExpired(timeout);
  }
}
