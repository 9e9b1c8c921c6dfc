/** The zod field of `workers` (option-specs-workers.ts): a whole number, or auto for the cores. */
import { availableParallelism } from 'node:os';
import { type ValueIssueParams, optionWithDefault } from './schema-builders.js';
import type { IssueSink } from './site-tls-options.js';
import type { SiteConfig } from './types.js';
import { ConfigError, parsePositiveInteger } from './values.js';
import { rangeSize } from '../site/port-slices.js';

/** More processes than this would each hold a sliver of a passive range and gain nothing. */
export const MAX_WORKERS = 256;

export function parseWorkers(field: string, text: string, cores = availableParallelism()): number {
  if (text.trim().toLowerCase() === 'auto') return Math.min(cores, MAX_WORKERS);
  try {
    return parsePositiveInteger(field, text, MAX_WORKERS);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(field, `auto or a whole number from 1 to ${MAX_WORKERS}`, text);
    throw error;
  }
}

export const workersProcessFields = {
  workers: optionWithDefault('workers', (field, text) => parseWorkers(field, text)),
};

/**
 * Each worker owns a slice of every passive range (src/daemon/worker-config.ts), at least one
 * port: a range smaller than the workers is refused here, so check-config says so too.
 */
export function checkWorkersFit(workers: number, sites: readonly SiteConfig[], context: IssueSink): boolean {
  const small = sites.find((site) => rangeSize(site.passivePorts) < workers);
  if (small === undefined) return true;
  const { low, high } = small.passivePorts;
  const detail = `${workers} workers need at least ${workers} ports in every passive range (one slice each); site ${JSON.stringify(small.name)} has ${low}-${high}`;
  const params: ValueIssueParams = { expected: `at most ${rangeSize(small.passivePorts)} workers`, received: String(workers), detail };
  context.addIssue({ code: 'custom', message: detail, path: ['workers'], params });
  return false;
}
