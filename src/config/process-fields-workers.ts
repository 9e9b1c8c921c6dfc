/** The zod field of `workers` (option-specs-workers.ts): a whole number, or auto (the default) for the cores. */
import { availableParallelism } from 'node:os';
import { type ValueIssueParams, optionWithDefault } from './schema-builders.js';
import type { IssueSink } from './site-tls-options.js';
import type { DaemonConfig, SiteConfig } from './types.js';
import { ConfigError, parsePositiveInteger } from './values.js';
import { rangeSize } from '../site/port-slices.js';
import { forwardsInKernel } from '../site/site-policy.js';

/** More processes than this would each hold a sliver of a passive range and gain nothing. */
export const MAX_WORKERS = 256;

/**
 * `auto` gives each worker at least this many ports of every passive range: a worker whose slice
 * is a handful of ports answers 425 while the others have free ones (each worker advertises only
 * its own slice), so a small range is better served by fewer processes.
 */
export const MIN_PORTS_PER_WORKER = 16;

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
 * `auto`: the cores, capped so that every passive range gives each worker at least
 * MIN_PORTS_PER_WORKER ports, and 1 when a site is in kernel mode (the kernel moves its data:
 * workers gain nothing, and each would replace the one nftables table the others use). An
 * explicit count is kept as it is: checkWorkers refuses one that cannot work.
 */
export function decideWorkers(setting: WorkersSetting, sites: readonly SiteConfig[], cores = availableParallelism()): WorkersChoice {
  if (setting !== 'auto') return { count: setting };
  const kernel = sites.find(forwardsInKernel);
  if (kernel !== undefined) return { count: 1, limitedBy: `site ${JSON.stringify(kernel.name)} is in kernel mode` };
  let choice: WorkersChoice = cores > MAX_WORKERS ? { count: MAX_WORKERS, limitedBy: `at most ${MAX_WORKERS} workers` } : { count: Math.max(1, cores) };
  for (const site of sites) {
    const ports = rangeSize(site.passivePorts);
    const fit = Math.max(1, Math.floor(ports / MIN_PORTS_PER_WORKER));
    if (fit < choice.count) {
      const { low, high } = site.passivePorts;
      choice = { count: fit, limitedBy: `site ${JSON.stringify(site.name)} has ${ports} passive port${ports === 1 ? '' : 's'} (${low}-${high}); auto gives each worker at least ${MIN_PORTS_PER_WORKER}` };
    }
  }
  return choice;
}

/**
 * How many workers a configuration runs: its `workers` when set, else auto. The configuration
 * keeps auto as no `workers` at all, so its hash is the same on every machine whatever its cores.
 */
export function resolveWorkers(config: Pick<DaemonConfig, 'workers' | 'sites'>, cores = availableParallelism()): WorkersChoice {
  return decideWorkers(config.workers ?? 'auto', config.sites, cores);
}

/** For the start-up log line: how many workers serve, the cores, and why fewer than the cores. */
export function describeWorkers(config: Pick<DaemonConfig, 'workers' | 'sites'>, cores = availableParallelism()): { workers: number; cores: number; workersLimitedBy?: string } {
  const { count, limitedBy } = resolveWorkers(config, cores);
  if (count >= cores) return { workers: count, cores };
  return { workers: count, cores, workersLimitedBy: limitedBy ?? `workers is set to ${count}` };
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
