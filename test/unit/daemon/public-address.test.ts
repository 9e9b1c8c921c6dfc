import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isPublicAddressName, PublicAddress } from '../../../src/daemon/public-address.js';
import { createLogger } from '../../../src/observability/logger.js';
import { advertisedIpv4 } from '../../../src/site/site-policy.js';

function capture(): { lines: string[]; write(text: string): void } {
  const lines: string[] = [];
  return { lines, write: (text: string) => void lines.push(text) };
}

function messages(out: { lines: string[] }): string[] {
  return out.lines.map((line) => {
    const record: unknown = JSON.parse(line);
    return typeof record === 'object' && record !== null && 'msg' in record ? String(record.msg) : '';
  });
}

/** A resolver whose answers the test sets: an address, or an Error to reject with. */
function scriptedResolver(answers: Array<string | Error>) {
  const asked: string[] = [];
  const resolve = (name: string): Promise<string> => {
    asked.push(name);
    const answer = answers.length > 1 ? answers.shift() : answers[0];
    return answer instanceof Error || answer === undefined ? Promise.reject(answer ?? new Error('no answer')) : Promise.resolve(answer);
  };
  return { asked, resolve };
}

describe('isPublicAddressName', () => {
  it.each([
    { value: 'ftp.example.com', expected: true },
    { value: '203.0.113.10', expected: false },
    { value: '2001:db8::1', expected: false },
    { value: undefined, expected: false },
  ])('$value: $expected', ({ value, expected }) => {
    expect(isPublicAddressName(value)).toBe(expected);
  });
});

describe('PublicAddress', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('resolves at once, again every refresh, and follows a changed address', async () => {
    const { asked, resolve } = scriptedResolver(['198.51.100.1', '198.51.100.2']);
    const failures = { count: 0 };
    const lookups = new PublicAddress('ftp.example.com', 60_000, resolve, { publicAddressLookupFailed: () => failures.count++ }, createLogger('silent'));
    expect(lookups.current).toBeUndefined();
    await lookups.firstLookup;
    expect(lookups.current).toBe('198.51.100.1');
    await vi.advanceTimersByTimeAsync(59_999);
    expect(asked).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked).toEqual(['ftp.example.com', 'ftp.example.com']);
    expect(lookups.current).toBe('198.51.100.2');
    expect(failures.count).toBe(0);
    lookups.stop();
  });

  it('keeps the last good address through failures, counts each, logs the streak once and the recovery', async () => {
    const { resolve } = scriptedResolver(['198.51.100.1', new Error('ENOTFOUND'), new Error('ENOTFOUND'), new Error('ENOTFOUND'), '198.51.100.3']);
    const failures = { count: 0 };
    const out = capture();
    const lookups = new PublicAddress('ftp.example.com', 1000, resolve, { publicAddressLookupFailed: () => failures.count++ }, createLogger('info', out));
    await lookups.firstLookup;
    await vi.advanceTimersByTimeAsync(3000);
    expect(lookups.current).toBe('198.51.100.1');
    expect(failures.count).toBe(3);
    expect(messages(out)).toEqual(['public address resolved', 'public address lookup failed']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(lookups.current).toBe('198.51.100.3');
    expect(messages(out)).toEqual(['public address resolved', 'public address lookup failed', 'public address resolved']);
    lookups.stop();
  });

  it('has no address while the name never resolved', async () => {
    const { resolve } = scriptedResolver([new Error('SERVFAIL')]);
    const lookups = new PublicAddress('ftp.example.com', 1000, resolve, { publicAddressLookupFailed: () => undefined }, createLogger('silent'));
    await lookups.firstLookup;
    await vi.advanceTimersByTimeAsync(5000);
    expect(lookups.current).toBeUndefined();
    lookups.stop();
  });

  it('stops looking up after stop()', async () => {
    const { asked, resolve } = scriptedResolver(['198.51.100.1']);
    const lookups = new PublicAddress('ftp.example.com', 1000, resolve, { publicAddressLookupFailed: () => undefined }, createLogger('silent'));
    await lookups.firstLookup;
    lookups.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(asked).toHaveLength(1);
  });
});

describe('advertisedIpv4 with a publicAddress given as a name', () => {
  const site = { mode: 'relay' as const, publicAddress: 'ftp.example.com', advertise: [] };
  const facts = { clientAddress: '198.51.100.9', ownAddress: '10.0.0.5', epsvAllSeen: false };

  it.each([
    { title: 'the address it resolves to now', publicAddress: '203.0.113.10', expected: '203.0.113.10' },
    { title: 'before it first resolved: the local address of the control connection', publicAddress: undefined, expected: '10.0.0.5' },
  ])('$title', ({ publicAddress, expected }) => {
    expect(advertisedIpv4(site, { ...facts, publicAddress })).toBe(expected);
  });

  it('an advertise rule still wins', () => {
    const withRule = { ...site, advertise: [{ clients: [{ family: 4 as const, bytes: [198, 51, 100, 0], prefix: 24 }], address: '10.0.11.1' }] };
    expect(advertisedIpv4(withRule, { ...facts, publicAddress: '203.0.113.10' })).toBe('10.0.11.1');
  });
});
