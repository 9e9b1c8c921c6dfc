/**
 * The bench's run order. parallel and parallel-workers share a group so their rounds interleave:
 * a first quick run measured every one-process round before every --workers 2 round, minutes
 * apart on a shared machine, and compared figures taken under different loads.
 */
import { describe, expect, it } from 'vitest';
import { batchesOf, runOrder } from '../../../bench/lib/batches.js';

const scenario = (id: string, group?: string): { id: string; group?: string } => (group === undefined ? { id } : { id, group });

describe('batchesOf', () => {
  const cases = [
    { title: 'no groups: one batch per scenario', input: [scenario('a'), scenario('b')], expected: [['a'], ['b']] },
    {
      title: 'consecutive scenarios of one group: one batch',
      input: [scenario('download'), scenario('parallel', 'parallel'), scenario('parallel-workers', 'parallel'), scenario('noop')],
      expected: [['download'], ['parallel', 'parallel-workers'], ['noop']],
    },
    { title: 'a group member alone (--only parallel-workers)', input: [scenario('parallel-workers', 'parallel')], expected: [['parallel-workers']] },
    { title: 'different groups stay apart', input: [scenario('a', 'x'), scenario('b', 'y')], expected: [['a'], ['b']] },
    { title: 'nothing', input: [], expected: [] },
  ];
  it.each(cases)('$title', ({ input, expected }) => {
    expect(batchesOf(input).map((batch) => batch.map((each) => each.id))).toEqual(expected);
  });
});

describe('runOrder', () => {
  it('interleaves the scenarios of a batch round by round, variants in order within each', () => {
    const batch = [
      { id: 'parallel', group: 'parallel', variants: ['relay', 'modproxy'] },
      { id: 'parallel-workers', group: 'parallel', variants: ['relay'] },
    ];
    const order = runOrder(batch, 2, (each) => each.variants).map(({ scenario, variant, round }) => `${round} ${scenario.id} ${variant}`);
    expect(order).toEqual([
      '1 parallel relay',
      '1 parallel modproxy',
      '1 parallel-workers relay',
      '2 parallel relay',
      '2 parallel modproxy',
      '2 parallel-workers relay',
    ]);
  });

  it('a scenario with no variant selected adds nothing', () => {
    const order = runOrder([{ id: 'a', variants: [] }], 3, (each) => each.variants);
    expect(order).toEqual([]);
  });
});
