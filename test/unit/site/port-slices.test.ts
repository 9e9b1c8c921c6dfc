/**
 * The slicing of a passive range among replicas (docs/SCALING.md): exhaustive over small ranges
 * and counts, fast-check over the whole port space, and the parsing of `--passive-port-slice`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PortRange } from '../../../src/config/values.js';
import {
  MAX_SLICE_COUNT,
  advertisedPassivePort,
  checkAdvertisedRange,
  ordinalOfHostname,
  parseSliceSetting,
  rangeSize,
  resolveSlice,
  sliceOfRange,
  slicesOfRange,
} from '../../../src/site/port-slices.js';

/** The slices of a range must be contiguous, in order, disjoint, cover it, and differ in size by at most one. */
function expectPartition(range: PortRange, slices: readonly PortRange[]): void {
  let next = range.low;
  for (const slice of slices) {
    expect(slice.low).toBe(next);
    expect(slice.high).toBeGreaterThanOrEqual(slice.low);
    next = slice.high + 1;
  }
  expect(next).toBe(range.high + 1);
  const sizes = slices.map(rangeSize);
  expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
}

function slices(range: PortRange, count: number): PortRange[] {
  const result = slicesOfRange(range, count);
  if (!result.ok) throw new Error(result.reason);
  return result.value;
}

describe('sliceOfRange', () => {
  it.each([
    { title: 'ten ports in three', range: { low: 60000, high: 60009 }, count: 3, expected: ['60000-60003', '60004-60006', '60007-60009'] },
    { title: 'an even split', range: { low: 30000, high: 30299 }, count: 3, expected: ['30000-30099', '30100-30199', '30200-30299'] },
    { title: 'one slice is the range', range: { low: 1024, high: 65535 }, count: 1, expected: ['1024-65535'] },
    { title: 'one port each', range: { low: 50000, high: 50002 }, count: 3, expected: ['50000-50000', '50001-50001', '50002-50002'] },
    { title: 'the remainder goes to the first slices', range: { low: 100, high: 110 }, count: 4, expected: ['100-102', '103-105', '106-108', '109-110'] },
  ])('$title', ({ range, count, expected }) => {
    expect(slices(range, count).map((slice) => `${slice.low}-${slice.high}`)).toEqual(expected);
  });

  it('partitions every range of 1 to 40 ports for every count that fits, and refuses every count that does not', () => {
    for (let size = 1; size <= 40; size++) {
      const range = { low: 60000, high: 60000 + size - 1 };
      for (let count = 1; count <= size; count++) expectPartition(range, slices(range, count));
      for (let count = size + 1; count <= size + 3; count++) {
        const result = sliceOfRange(range, { index: 0, count });
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.reason).toContain(`too few for ${count} slices`);
      }
    }
  });

  it.each([
    { title: 'a negative index', index: -1, count: 3, reason: 'index must be a whole number from 0 to 2, got -1' },
    { title: 'the index equal to the count', index: 3, count: 3, reason: 'index must be a whole number from 0 to 2, got 3' },
    { title: 'a fractional index', index: 0.5, count: 3, reason: 'got 0.5' },
    { title: 'no slices', index: 0, count: 0, reason: 'count must be a whole number from 1' },
    { title: 'too many slices', index: 0, count: MAX_SLICE_COUNT + 1, reason: `from 1 to ${MAX_SLICE_COUNT}` },
  ])('refuses $title', ({ index, count, reason }) => {
    const result = sliceOfRange({ low: 60000, high: 60999 }, { index, count });
    expect(result).toEqual({ ok: false, reason: expect.stringContaining(reason) });
  });

  it('says how big the range is when it is too small', () => {
    expect(sliceOfRange({ low: 60000, high: 60001 }, { index: 0, count: 3 })).toEqual({
      ok: false,
      reason: 'the passive range 60000-60001 has 2 ports, too few for 3 slices (at least one port each)',
    });
  });

  it('property: the slices of any range partition it evenly, and each port belongs to exactly one slice', () => {
    const rangeAndCount = fc
      .tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 65534 }), fc.integer({ min: 1, max: 64 }))
      .map(([low, span, count]) => ({ range: { low, high: Math.min(65535, low + span) }, count }))
      .filter(({ range, count }) => rangeSize(range) >= count);
    fc.assert(
      fc.property(rangeAndCount, fc.nat(), ({ range, count }, portSeed) => {
        const all = slices(range, count);
        expectPartition(range, all);
        const port = range.low + (portSeed % rangeSize(range));
        expect(all.filter((slice) => slice.low <= port && port <= slice.high)).toHaveLength(1);
      }),
      { numRuns: 500 },
    );
  });

  it('property: the count decides, not the order of asking: slice k alone equals slice k of the whole list', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 200 }), fc.nat(), (size, count, indexSeed) => {
        fc.pre(size >= count);
        const range = { low: 10000, high: 10000 + size - 1 };
        const index = indexSeed % count;
        expect(sliceOfRange(range, { index, count })).toEqual({ ok: true, value: slices(range, count)[index] });
      }),
    );
  });
});

describe('parseSliceSetting', () => {
  it.each([
    { input: '2/3', expected: { index: 2, count: 3 } },
    { input: '0/1', expected: { index: 0, count: 1 } },
    { input: ' 1 / 4 ', expected: { index: 1, count: 4 } },
    { input: 'auto/3', expected: { index: 'auto', count: 3 } },
    { input: 'AUTO/5', expected: { index: 'auto', count: 5 } },
  ])('reads $input', ({ input, expected }) => {
    expect(parseSliceSetting(input)).toEqual({ ok: true, value: expected });
  });

  it.each([
    { input: '3/3', reason: 'index must be below the count' },
    { input: '0/0', reason: 'count must be from 1' },
    { input: '2', reason: 'expected INDEX/COUNT' },
    { input: 'auto', reason: 'expected INDEX/COUNT' },
    { input: '-1/3', reason: 'expected INDEX/COUNT' },
    { input: '1/3/4', reason: 'expected INDEX/COUNT' },
    { input: '', reason: 'expected INDEX/COUNT' },
  ])('refuses $input', ({ input, reason }) => {
    expect(parseSliceSetting(input)).toEqual({ ok: false, reason: expect.stringContaining(reason) });
  });
});

describe('ordinalOfHostname and resolveSlice', () => {
  it.each([
    { hostname: 'ftpmasq-0', expected: { ok: true, value: 0 } },
    { hostname: 'ftpmasq-12', expected: { ok: true, value: 12 } },
    { hostname: 'ftp-masq-edge-2', expected: { ok: true, value: 2 } },
    { hostname: 'ftpmasq', expected: { ok: false, reason: expect.stringContaining('does not end in -<ordinal>') } },
    { hostname: 'ftpmasq-7f9c4', expected: { ok: false, reason: expect.stringContaining('does not end in -<ordinal>') } },
  ])('$hostname', ({ hostname, expected }) => {
    expect(ordinalOfHostname(hostname)).toEqual(expected);
  });

  it('auto takes the ordinal of the host name; a fixed index ignores it', () => {
    expect(resolveSlice({ index: 'auto', count: 3 }, 'ftpmasq-2')).toEqual({ ok: true, value: { index: 2, count: 3 } });
    expect(resolveSlice({ index: 1, count: 3 }, 'ftpmasq-2')).toEqual({ ok: true, value: { index: 1, count: 3 } });
  });

  it('an ordinal beyond the count (the StatefulSet scaled past it) is an error naming both', () => {
    expect(resolveSlice({ index: 'auto', count: 3 }, 'ftpmasq-3')).toEqual({
      ok: false,
      reason: 'the host name "ftpmasq-3" gives ordinal 3, not below the slice count 3',
    });
  });
});

describe('advertised passive ports', () => {
  it.each([
    { offset: undefined, bound: 60000, expected: 60000 },
    { offset: 0, bound: 60123, expected: 60123 },
    { offset: -29000, bound: 60100, expected: 31100 },
    { offset: 1000, bound: 30000, expected: 31000 },
  ])('port $bound with offset $offset is advertised as $expected', ({ offset, bound, expected }) => {
    expect(advertisedPassivePort(offset === undefined ? {} : { advertisedPassivePortOffset: offset }, bound)).toBe(expected);
  });

  it.each([
    { range: { low: 60000, high: 60999 }, offset: -29000, expected: { ok: true, value: { low: 31000, high: 31999 } } },
    { range: { low: 60000, high: 60999 }, offset: 5000, expected: { ok: false, reason: expect.stringContaining('65000-65999, outside 1024-65535') } },
    { range: { low: 2000, high: 2100 }, offset: -1000, expected: { ok: false, reason: expect.stringContaining('1000-1100, outside') } },
  ])('the range $range.low-$range.high shifted by $offset', ({ range, offset, expected }) => {
    expect(checkAdvertisedRange(range, offset)).toEqual(expected);
  });
});
