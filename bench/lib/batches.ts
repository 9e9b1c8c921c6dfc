/**
 * The order a run measures in. Rounds interleave variants within a scenario; scenarios that share
 * a `group` also interleave with each other (round 1 of each, then round 2 of each), so that
 * figures compared across them (one ftpmasq process against --workers 2) meet the same load
 * from whatever else runs on the machine.
 */
export interface Schedulable {
  readonly id: string;
  readonly group?: string | undefined;
}

/** Consecutive scenarios of one group form one batch; every other scenario is a batch of its own. */
export function batchesOf<T extends Schedulable>(scenarios: readonly T[]): T[][] {
  const batches: T[][] = [];
  for (const scenario of scenarios) {
    const last = batches.at(-1);
    if (last !== undefined && scenario.group !== undefined && last[0]?.group === scenario.group) last.push(scenario);
    else batches.push([scenario]);
  }
  return batches;
}

/** Every (scenario, variant, round) of a batch in the order they run: round by round, then scenario, then variant. */
export function runOrder<T extends Schedulable, V>(
  batch: readonly T[],
  rounds: number,
  variantsOf: (scenario: T) => readonly V[],
): Array<{ readonly scenario: T; readonly variant: V; readonly round: number }> {
  const order: Array<{ scenario: T; variant: V; round: number }> = [];
  for (let round = 1; round <= rounds; round++) {
    for (const scenario of batch) for (const variant of variantsOf(scenario)) order.push({ scenario, variant, round });
  }
  return order;
}
