/** How the bench spreads the 50 parallel downloads over several load-client processes. */
import { describe, expect, it } from 'vitest';
import { splitCount } from '../../../bench/lib/scenarios.js';

describe('splitCount', () => {
  const cases = [
    { title: 'one client takes all', total: 50, parts: 1, expected: [50] },
    { title: 'even', total: 50, parts: 2, expected: [25, 25] },
    { title: 'the remainder goes to the first', total: 50, parts: 4, expected: [13, 13, 12, 12] },
    { title: 'more clients than downloads: no empty client', total: 3, parts: 5, expected: [1, 1, 1] },
  ];
  it.each(cases)('$title', ({ total, parts, expected }) => {
    expect(splitCount(total, parts)).toEqual(expected);
    expect(splitCount(total, parts).reduce((sum, n) => sum + n, 0)).toBe(total);
  });
});
