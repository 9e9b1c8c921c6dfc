import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SessionTimers, TIMEOUT_REPLIES, type SessionTimeout } from '../../../src/session/session-timers.js';

const LIMITS = { greetingTimeoutMs: 1000, loginTimeoutMs: 5000, idleTimeoutMs: 10_000 };

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function make(idle = () => true): { timers: SessionTimers; expired: SessionTimeout[] } {
  const expired: SessionTimeout[] = [];
  const timers = new SessionTimers(LIMITS, idle, (timeout) => expired.push(timeout));
  return { timers, expired };
}

describe('SessionTimers', () => {
  it('greeting: runs out when the upstream has not replied in time', () => {
    const { timers, expired } = make();
    timers.upstreamConnected();
    vi.advanceTimersByTime(999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['greeting']);
  });

  it('greeting: stopped by the first complete reply, which starts the login clock', () => {
    const { timers, expired } = make();
    timers.upstreamConnected();
    vi.advanceTimersByTime(900);
    timers.replied(220);
    vi.advanceTimersByTime(4999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['login']);
  });

  it('login: stopped by a 230, not by other replies', () => {
    const { timers, expired } = make(() => false);
    timers.upstreamConnected();
    timers.replied(220);
    timers.replied(331);
    vi.advanceTimersByTime(4000);
    timers.replied(230);
    vi.advanceTimersByTime(60_000);
    expect(expired).toEqual([]);
  });

  it('idle: runs out after the limit with no command, counted from the last command', () => {
    const { timers, expired } = make();
    timers.becameIdle();
    vi.advanceTimersByTime(6000);
    timers.commandReceived();
    vi.advanceTimersByTime(9999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['idle']);
  });

  it('idle: never while something is in flight; the clock restarts when the session is idle again', () => {
    let idle = false;
    const { timers, expired } = make(() => idle);
    timers.replied(220);
    timers.replied(230);
    timers.becameIdle();
    timers.commandReceived();
    vi.advanceTimersByTime(60_000);
    expect(expired).toEqual([]);
    idle = true;
    timers.becameIdle();
    vi.advanceTimersByTime(9999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['idle']);
  });

  it('clear: nothing runs out afterwards, and each clock runs out once at most', () => {
    const { timers, expired } = make();
    timers.upstreamConnected();
    timers.becameIdle();
    timers.clear();
    vi.advanceTimersByTime(100_000);
    expect(expired).toEqual([]);
    const other = make();
    other.timers.upstreamConnected();
    other.timers.becameIdle();
    vi.advanceTimersByTime(100_000);
    expect(other.expired).toEqual(['greeting']);
  });

  it('answers each with a 421', () => {
    expect(Object.values(TIMEOUT_REPLIES).every((reply) => reply.startsWith('421 ') && reply.endsWith('\r\n'))).toBe(true);
  });
});

describe('SessionTimers: the reply clock (issue 11, item 5: a server that never answers)', () => {
  const REPLY_LIMITS = { ...LIMITS, loginTimeoutMs: 1_000_000, replyTimeoutMs: 3000 };

  function makeReply(awaits: () => boolean): { timers: SessionTimers; expired: SessionTimeout[] } {
    const expired: SessionTimeout[] = [];
    const timers = new SessionTimers(REPLY_LIMITS, () => false, (timeout) => expired.push(timeout), awaits);
    timers.upstreamConnected();
    timers.replied(220);
    return { timers, expired };
  }

  it('runs out when a reply is owed and nothing comes for the limit', () => {
    const { timers, expired } = makeReply(() => true);
    timers.replyProgress();
    vi.advanceTimersByTime(2999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['reply']);
  });

  it('counts from the last sign of progress', () => {
    const { timers, expired } = makeReply(() => true);
    timers.replyProgress();
    vi.advanceTimersByTime(2000);
    timers.replyProgress();
    vi.advanceTimersByTime(2999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['reply']);
  });

  it('does not run while nothing is owed or a data connection is open, and starts again from the progress after it', () => {
    let awaits = false;
    const { timers, expired } = makeReply(() => awaits);
    timers.replyProgress();
    vi.advanceTimersByTime(60_000);
    expect(expired).toEqual([]);
    awaits = true;
    timers.replyProgress();
    vi.advanceTimersByTime(2999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual(['reply']);
  });

  it('has no reply clock without a limit', () => {
    const expired: SessionTimeout[] = [];
    const timers = new SessionTimers({ ...LIMITS, loginTimeoutMs: 1_000_000 }, () => false, (timeout) => expired.push(timeout), () => true);
    timers.upstreamConnected();
    timers.replied(220);
    timers.replyProgress();
    vi.advanceTimersByTime(100_000);
    expect(expired).toEqual([]);
  });
});
