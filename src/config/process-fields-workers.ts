/** The zod field of `workers` (option-specs-workers.ts): a whole number, or auto for the cores. */
import { availableParallelism } from 'node:os';
import { type ValueIssueParams, optionWithDefault } from './schema-builders.js';
import type { IssueSink } from './site-tls-options.js';
import type { SiteConfig } from './types.js';
import { ConfigError, parsePositiveInteger } from './values.js';
import { rangeSize } from '../site/port-slices.js';
import { forwardsInKernel } from '../site/site-policy.js';

/** More processes than this would each hold a sliver of a passive range and gain nothing. */
export const MAX_WORKERS = 256;

/** What `workers` says: a count, or auto (decided with the sites, decideWorkers). */
export type WorkersSetting = number | 'auto';

export function parseWorkers(field: string, text: string): WorkersSetting {
  if (text.trim().toLowerCase() === 'auto') return 'auto';
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

/** How many workers serve, and why fewer than the cores when auto chose fewer. */
export interface WorkersChoice {
  readonly count: number;
  readonly limitedBy?: string;
}

/**
 * `auto`: the cores, but 1 when a site is in kernel mode (the kernel moves its data: workers gain
 * nothing, and each would replace the one nftables table the others use). An explicit count is
 * kept as it is: checkWorkers refuses one that cannot work.
 */
export function decideWorkers(setting: WorkersSetting, sites: readonly SiteConfig[], cores = availableParallelism()): WorkersChoice {
  if (setting !== 'auto') return { count: setting };
  const kernel = sites.find(forwardsInKernel);
  if (kernel !== undefined) return { count: 1, limitedBy: `site ${JSON.stringify(kernel.name)} is in kernel mode` };
  return { count: Math.max(1, Math.min(cores, MAX_WORKERS)) };
}

/**
 * An explicit count that cannot work is refused here, so check-config says so too: more than one
 * worker beside a kernel-mode site, or a passive range with fewer ports than workers (each worker
 * owns a slice of every range, src/daemon/worker-config.ts, at least one port).
 */
export function checkWorkers(workers: number, sites: readonly SiteConfig[], context: IssueSink): boolean {
  const kernel = workers > 1 ? sites.find(forwardsInKernel) : undefined;
  if (kernel !== undefined) {
    const detail = `${workers} workers cannot serve site ${JSON.stringify(kernel.name)} in kernel mode: the kernel moves its data, so workers gain nothing, and each worker would replace the one nftables table (ip ftpmasq) the others use; set workers to 1 or auto`;
    const params: ValueIssueParams = { expected: '1 or auto with a kernel-mode site', received: String(workers), detail };
    context.addIssue({ code: 'custom', message: detail, path: ['workers'], params });
    return false;
  }
  const small = sites.find((site) => rangeSize(site.passivePorts) < workers);
  if (small === undefined) return true;
  const { low, high } = small.passivePorts;
  const detail = `${workers} workers need at least ${workers} ports in every passive range (one slice each); site ${JSON.stringify(small.name)} has ${low}-${high}`;
  const params: ValueIssueParams = { expected: `at most ${rangeSize(small.passivePorts)} workers`, received: String(workers), detail };
  context.addIssue({ code: 'custom', message: detail, path: ['workers'], params });
  return false;
}
