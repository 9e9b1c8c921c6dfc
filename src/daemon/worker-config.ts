/**
 * The configuration one worker of `workers: N` runs: every site's passive range narrowed to the
 * worker's slice (the same slicing as scale-out replicas, port-slices.ts), so a 227/229 names
 * only ports this worker holds and a data connection always reaches the process that holds its
 * control connection. The metrics listener belongs to the primary, never to a worker. Pure.
 */
import type { DaemonConfig } from '../config/types.js';
import { type SliceResult, type SliceSpec, sliceOfRange } from '../site/port-slices.js';
import { forwardsInKernel } from '../site/site-policy.js';

export function configForWorker(config: DaemonConfig, slice: SliceSpec): SliceResult<DaemonConfig> {
  const sites = [];
  const kernel = slice.count > 1 ? config.sites.find(forwardsInKernel) : undefined;
  // A reload can bring a kernel-mode site to workers started without one: the workers stay.
  if (kernel !== undefined) return { ok: false, reason: `site ${JSON.stringify(kernel.name)} is in kernel mode, which one process serves (each of ${slice.count} workers would replace the others' nftables table); restart ftpmasq to apply it` };
  for (const site of config.sites) {
    const range = sliceOfRange(site.passivePorts, slice);
    if (!range.ok) return { ok: false, reason: `site ${JSON.stringify(site.name)}: ${range.reason}` };
    sites.push({ ...site, passivePorts: range.value });
  }
  return { ok: true, value: { ...config, metricsListen: undefined, sites } };
}

/** Every worker's configuration can be made: checked once, before any worker starts. */
export function checkWorkerSlices(config: DaemonConfig, count: number): SliceResult<null> {
  for (let index = 0; index < count; index++) {
    const narrowed = configForWorker(config, { index, count });
    if (!narrowed.ok) return narrowed;
  }
  return { ok: true, value: null };
}
