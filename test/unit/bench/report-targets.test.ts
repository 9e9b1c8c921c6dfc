/** Issue 14 item 5's target in the bench's table: relay with --workers 2 at least mod_proxy's aggregate, same run. */
import { describe, expect, it } from 'vitest';
import { type RoundResult, checkTargets } from '../../../bench/lib/report.js';

const TARGET = '50 parallel downloads: relay with --workers 2 >= 1.0x mod_proxy';

function rounds(workers: readonly number[], modproxy: readonly number[]): RoundResult[] {
  return [
    ...workers.map((value, index) => ({ scenario: 'parallel-workers', variant: 'relay' as const, round: index + 1, figures: { aggregateMbPerSecond: value } })),
    ...modproxy.map((value, index) => ({ scenario: 'parallel', variant: 'modproxy' as const, round: index + 1, figures: { aggregateMbPerSecond: value } })),
  ];
}

describe('checkTargets: relay with workers against mod_proxy', () => {
  const cases = [
    { title: 'medians equal: met', results: rounds([900, 100, 800], [800, 850, 700]), measured: '(b) --workers 2 1.00', met: true },
    { title: 'median below: missed', results: rounds([413, 745, 565, 350, 278], [466, 543, 595, 517, 395]), measured: '(b) --workers 2 0.80', met: false },
    { title: 'no mod_proxy rounds: not measured', results: rounds([900], []), measured: 'not measured', met: undefined },
    {
      title: 'a failed round is left out of the median',
      results: [...rounds([1000, 1000], [900]), { scenario: 'parallel-workers', variant: 'relay' as const, round: 3, figures: {}, error: '425' }],
      measured: '(b) --workers 2 1.11',
      met: true,
    },
  ];
  it.each(cases)('$title', ({ results, measured, met }) => {
    const check = checkTargets(results, { parallelCount: 50, heldScripted: 5000 }).find((each) => each.target === TARGET);
    expect(check).toEqual({ target: TARGET, measured, met });
  });
});
