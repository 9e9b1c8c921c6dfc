import { describe, expect, it } from 'vitest';
import { OPTION_SPECS } from '../../../src/config/option-specs.js';
import { parsePortRange, parsePositiveInteger } from '../../../src/config/values.js';
import { descriptorsNeeded, findOpenFilesShortfall, parseOpenFilesLimit } from '../../../src/observability/process-limits.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1048576              1048576              files
Max locked memory         8388608              8388608              bytes
`;

describe('parseOpenFilesLimit', () => {
  const cases: Array<{ title: string; input: string; expected: ReturnType<typeof parseOpenFilesLimit> }> = [
    { title: 'numbers', input: LIMITS, expected: { soft: 1048576, hard: 1048576 } },
    { title: 'a lower soft limit', input: LIMITS.replace('1048576              1048576', '1024                 524288'), expected: { soft: 1024, hard: 524288 } },
    { title: 'unlimited', input: LIMITS.replace('1048576              1048576', 'unlimited            unlimited'), expected: { soft: Infinity, hard: Infinity } },
    { title: 'no such row', input: 'Limit Soft Hard Units\n', expected: undefined },
  ];
  for (const { title, input, expected } of cases) {
    it(`reads ${title}`, () => expect(parseOpenFilesLimit(input)).toEqual(expected));
  }
});

describe('descriptorsNeeded', () => {
  it('counts two control sockets per session and two descriptors per passive port, and a reserve', () => {
    expect(descriptorsNeeded(5000, 1000)).toBe(10000 + 2000 + 64);
    expect(descriptorsNeeded(0, 0)).toBe(64);
  });
});

/** The defaults a start without flags has: --max-sessions and --passive-ports as the specs give them. */
function defaultOf(key: 'maxSessions' | 'passivePorts'): string {
  const value = OPTION_SPECS.find((spec) => spec.key === key)?.defaultValue;
  if (value === undefined) throw new Error(`no default for ${key}`);
  return value;
}
const DEFAULT_SESSIONS = parsePositiveInteger('--max-sessions', defaultOf('maxSessions'));
const DEFAULT_RANGE = parsePortRange('--passive-ports', defaultOf('passivePorts'));
const DEFAULT_PORTS = DEFAULT_RANGE.high - DEFAULT_RANGE.low + 1;

describe('findOpenFilesShortfall', () => {
  it('works on the defaults it is sized for: 10000 sessions, 1000 passive ports', () => {
    expect([DEFAULT_SESSIONS, DEFAULT_PORTS]).toEqual([10_000, 1000]);
  });

  // The hard limits a start usually gets (Node raises the soft limit to the hard one): none warns.
  it.each([
    { title: "the shipped systemd unit's LimitNOFILE", limit: 65_536 },
    { title: "systemd's default hard limit for services and logins (since v240)", limit: 524_288 },
    { title: 'Docker and containerd (nofile 1048576)', limit: 1_048_576 },
    { title: 'unlimited', limit: Infinity },
  ])('says nothing with the defaults under $title ($limit)', ({ limit }) => {
    expect(findOpenFilesShortfall(limit, DEFAULT_SESSIONS, DEFAULT_PORTS)).toBeUndefined();
  });

  it.each([
    { title: 'a CI container with nofile 20000', limit: 20_000, sessionsWithinLimit: 8968 },
    { title: 'an old hard limit of 4096', limit: 4096, sessionsWithinLimit: 1016 },
    { title: 'a hard limit of 1024, below the passive range itself', limit: 1024, sessionsWithinLimit: 0 },
  ])('under $title, says how many sessions fit', ({ limit, sessionsWithinLimit }) => {
    expect(findOpenFilesShortfall(limit, DEFAULT_SESSIONS, DEFAULT_PORTS)).toEqual({
      openFilesLimit: limit,
      needed: 22_064,
      maxSessions: DEFAULT_SESSIONS,
      sessionsWithinLimit,
    });
  });

  it('is quiet once --max-sessions is lowered to the sessions it reported', () => {
    const shortfall = findOpenFilesShortfall(20_000, DEFAULT_SESSIONS, DEFAULT_PORTS);
    expect(shortfall).toBeDefined();
    expect(findOpenFilesShortfall(20_000, shortfall?.sessionsWithinLimit ?? 0, DEFAULT_PORTS)).toBeUndefined();
    expect(findOpenFilesShortfall(20_000, (shortfall?.sessionsWithinLimit ?? 0) + 1, DEFAULT_PORTS)).toBeDefined();
  });

  it('holds exactly at the limit', () => {
    expect(findOpenFilesShortfall(descriptorsNeeded(100, 10), 100, 10)).toBeUndefined();
    expect(findOpenFilesShortfall(descriptorsNeeded(100, 10) - 1, 100, 10)?.sessionsWithinLimit).toBe(99);
  });
});
