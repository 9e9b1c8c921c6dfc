import { describe, expect, it } from 'vitest';
import { descriptorsNeeded, parseOpenFilesLimit } from '../../../src/observability/process-limits.js';

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
  it('counts two control sockets per session and three descriptors per passive port', () => {
    expect(descriptorsNeeded(5000, 1000)).toBe(10000 + 3000 + 64);
  });
});
