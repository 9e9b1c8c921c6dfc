/** `workers: N`: each worker's configuration, the value of --workers, and the IPC messages read back. */
import { describe, expect, it } from 'vitest';
import { MAX_WORKERS, decideWorkers, describeWorkers, parseWorkers, resolveWorkers } from '../../../src/config/process-fields-workers.js';
import { configFromDocument } from '../../../src/config/load-config.js';
import { buildConfig } from '../../../src/config/schema.js';
import { configErrorOf } from '../config/config-error-of.js';
import { ConfigError } from '../../../src/config/values.js';
import { checkWorkerSlices, configForWorker } from '../../../src/daemon/worker-config.js';
import { parseHealthMessage, parseSignalMessage } from '../../../src/daemon/worker-messages.js';
import { daemonConfig, siteConfig } from '../../integration/support/daemon-fixtures.js';

const TWO_SITES = daemonConfig(
  [siteConfig('a', { upstream: '10.0.0.1:21', passivePorts: '60000-60009' }), siteConfig('b', { upstream: '10.0.0.2:21', passivePorts: '61000-61002' })],
  { metricsListen: { host: '127.0.0.1', port: 9464 }, workers: 2 },
);

const RELAY_SITE = siteConfig('a', { upstream: '10.0.0.1:21', passivePorts: '60000-60999' });
const KERNEL_SITE = siteConfig('k', { upstream: '10.0.0.3:21', passivePorts: '62000-62999', mode: 'kernel' });

describe('configForWorker', () => {
  it.each([
    { title: 'worker 0 of 2', slice: { index: 0, count: 2 }, expected: [{ low: 60000, high: 60004 }, { low: 61000, high: 61001 }] },
    { title: 'worker 1 of 2', slice: { index: 1, count: 2 }, expected: [{ low: 60005, high: 60009 }, { low: 61002, high: 61002 }] },
    { title: 'worker 2 of 3', slice: { index: 2, count: 3 }, expected: [{ low: 60007, high: 60009 }, { low: 61002, high: 61002 }] },
  ])('$title: every site narrowed to its slice, no metrics listener, the rest unchanged', ({ slice, expected }) => {
    const narrowed = configForWorker(TWO_SITES, slice);
    expect(narrowed.ok).toBe(true);
    if (!narrowed.ok) return;
    expect(narrowed.value.sites.map((site) => site.passivePorts)).toEqual(expected);
    expect(narrowed.value.metricsListen).toBeUndefined();
    expect(narrowed.value.sites.map((site) => ({ ...site, passivePorts: undefined }))).toEqual(TWO_SITES.sites.map((site) => ({ ...site, passivePorts: undefined })));
  });

  it('names the site whose range is too small for the workers', () => {
    expect(checkWorkerSlices(TWO_SITES, 3)).toEqual({ ok: true, value: null });
    const tooMany = checkWorkerSlices(TWO_SITES, 4);
    expect(tooMany.ok).toBe(false);
    if (!tooMany.ok) expect(tooMany.reason).toBe('site "b": the passive range 61000-61002 has 3 ports, too few for 4 slices (at least one port each)');
  });

  it('the slices of every worker cover the range once', () => {
    const ports = [0, 1, 2].flatMap((index) => {
      const narrowed = configForWorker(TWO_SITES, { index, count: 3 });
      if (!narrowed.ok) throw new Error(narrowed.reason);
      const range = narrowed.value.sites[0]?.passivePorts ?? { low: 0, high: -1 };
      return Array.from({ length: range.high - range.low + 1 }, (_, offset) => range.low + offset);
    });
    expect(ports).toEqual(Array.from({ length: 10 }, (_, offset) => 60000 + offset));
  });
});

describe('--workers', () => {
  it.each([
    { text: '1', expected: 1 },
    { text: '4', expected: 4 },
    { text: 'auto', expected: 'auto' },
    { text: 'AUTO', expected: 'auto' },
    { text: ` ${MAX_WORKERS}`, expected: MAX_WORKERS },
  ])('$text is $expected', ({ text, expected }) => {
    expect(parseWorkers('--workers', text)).toBe(expected);
  });

  it.each(['0', '-1', '1.5', 'all', '', String(MAX_WORKERS + 1)])('%j is refused naming the flag and the form', (text) => {
    expect(() => parseWorkers('--workers', text)).toThrow(new ConfigError('--workers', `auto or a whole number from 1 to ${MAX_WORKERS}`, text));
  });

  it('auto is capped at the most workers there may be', () => {
    const huge = siteConfig('h', { upstream: '10.0.0.1:21', passivePorts: '1024-65535' });
    expect(decideWorkers('auto', [huge], 10_000)).toEqual({ count: MAX_WORKERS, limitedBy: `at most ${MAX_WORKERS} workers` });
  });

  it.each([
    { title: 'a range of 20 ports: 1 worker', ports: '60000-60019', cores: 8, expected: { count: 1, limitedBy: 'site "a" has 20 passive ports (60000-60019); auto gives each worker at least 16' } },
    { title: 'a range of 100 ports on 8 cores: 6', ports: '60000-60099', cores: 8, expected: { count: 6, limitedBy: 'site "a" has 100 passive ports (60000-60099); auto gives each worker at least 16' } },
    { title: 'a range of 100 ports on 2 cores: the cores', ports: '60000-60099', cores: 2, expected: { count: 2 } },
    { title: 'a range of 32 ports on 2 cores: 2, 16 each', ports: '60000-60031', cores: 2, expected: { count: 2 } },
    { title: 'a range of 31 ports on 2 cores: 1', ports: '60000-60030', cores: 2, expected: { count: 1, limitedBy: 'site "a" has 31 passive ports (60000-60030); auto gives each worker at least 16' } },
    { title: 'one port: 1', ports: '60000-60000', cores: 4, expected: { count: 1, limitedBy: 'site "a" has 1 passive port (60000-60000); auto gives each worker at least 16' } },
    { title: 'the default range (1000 ports) on 1 core', ports: '60000-60999', cores: 1, expected: { count: 1 } },
  ])('auto: $title', ({ ports, cores, expected }) => {
    expect(decideWorkers('auto', [siteConfig('a', { upstream: '10.0.0.1:21', passivePorts: ports })], cores)).toEqual(expected);
  });

  it('auto: the smallest range of all the sites decides', () => {
    const sites = [siteConfig('big', { upstream: '10.0.0.1:21', passivePorts: '60000-60999' }), siteConfig('small', { upstream: '10.0.0.2:21', passivePorts: '61000-61047' })];
    expect(decideWorkers('auto', sites, 8)).toEqual({ count: 3, limitedBy: 'site "small" has 48 passive ports (61000-61047); auto gives each worker at least 16' });
  });

  it('an explicit count is kept whatever the cores (the strict range check applies to it)', () => {
    expect(decideWorkers(4, [siteConfig('a', { upstream: '10.0.0.1:21', passivePorts: '60000-60019' })], 2)).toEqual({ count: 4 });
  });

  it('the start-up line says the workers, the cores and why fewer', () => {
    const small = daemonConfig([siteConfig('a', { upstream: '10.0.0.1:21', passivePorts: '60000-60019' })]);
    expect(describeWorkers(small, 4)).toEqual({ workers: 1, cores: 4, workersLimitedBy: 'site "a" has 20 passive ports (60000-60019); auto gives each worker at least 16' });
    expect(describeWorkers({ ...small, workers: 1 }, 4)).toEqual({ workers: 1, cores: 4, workersLimitedBy: 'workers is set to 1' });
    expect(describeWorkers(daemonConfig([RELAY_SITE]), 4)).toEqual({ workers: 4, cores: 4 });
  });

  it('refuses more workers than a passive range has ports, naming the key, the count and the site', () => {
    expect(configErrorOf(() => buildConfig({ upstream: '10.0.0.1:21', passivePorts: '60000-60002', workers: '4' })).message).toBe(
      '--workers: 4 workers need at least 4 ports in every passive range (one slice each); site "default" has 60000-60002',
    );
    const document = { workers: '3', sites: [{ name: 'a', listen: '0.0.0.0:21', upstream: '10.0.0.1:21', passivePorts: '60000-60009' }, { name: 'b', listen: '0.0.0.0:2121', upstream: '10.0.0.2:21', passivePorts: '61000-61001' }] };
    expect(configErrorOf(() => configFromDocument(document, { source: 'f.yaml' })).message).toBe(
      'f.yaml: workers: 3 workers need at least 3 ports in every passive range (one slice each); site "b" has 61000-61001',
    );
    expect(buildConfig({ upstream: '10.0.0.1:21', passivePorts: '60000-60002', workers: '3' }).workers).toBe(3);
  });

  it('auto (the default) leaves the configuration as it was before workers existed, so its hash is the same on any number of cores', () => {
    expect(buildConfig({ upstream: '10.0.0.1:21' })).not.toHaveProperty('workers');
    expect(buildConfig({ upstream: '10.0.0.1:21', workers: 'auto' })).not.toHaveProperty('workers');
    expect(buildConfig({ upstream: '10.0.0.1:21', workers: '1' }).workers).toBe(1);
    expect(buildConfig({ upstream: '10.0.0.1:21', workers: '3' }).workers).toBe(3);
    expect(resolveWorkers(buildConfig({ upstream: '10.0.0.1:21' }), 3)).toEqual({ count: 3 });
    expect(resolveWorkers(buildConfig({ upstream: '10.0.0.1:21', workers: '1' }), 3)).toEqual({ count: 1 });
  });
});

describe('workers and kernel mode', () => {
  const KERNEL_DOCUMENT = { sites: [{ name: 'a', listen: '0.0.0.0:21', upstream: '10.0.0.1:21', passivePorts: '60000-60999' }, { name: 'k', listen: '0.0.0.0:2121', upstream: '10.0.0.3:21', passivePorts: '62000-62999', mode: 'kernel' }] };

  it('an explicit count above 1 beside a kernel-mode site is refused, naming workers and why', () => {
    const reason = '2 workers cannot serve site "k" in kernel mode: the kernel moves its data, so workers gain nothing, and each worker would replace the one nftables table (ip ftpmasq) the others use; set workers to 1 or auto';
    expect(configErrorOf(() => configFromDocument({ ...KERNEL_DOCUMENT, workers: 2 }, { source: 'f.yaml' })).message).toBe(`f.yaml: workers: ${reason}`);
    expect(configErrorOf(() => buildConfig({ upstream: '10.0.0.3:21', mode: 'kernel', workers: '2' })).message).toBe(`--workers: ${reason.replace('"k"', '"default"')}`);
  });

  it('auto gives one process for a configuration with a kernel-mode site, and 1 stays allowed', () => {
    expect(decideWorkers('auto', [RELAY_SITE, KERNEL_SITE], 8)).toEqual({ count: 1, limitedBy: 'site "k" is in kernel mode' });
    expect(resolveWorkers(configFromDocument({ ...KERNEL_DOCUMENT, workers: 'auto' }, { source: 'f.yaml' }), 8)).toEqual({ count: 1, limitedBy: 'site "k" is in kernel mode' });
    expect(configFromDocument({ ...KERNEL_DOCUMENT, workers: 1 }, { source: 'f.yaml' }).workers).toBe(1);
    expect(resolveWorkers(buildConfig({ upstream: '10.0.0.3:21', mode: 'kernel' }), 8).count).toBe(1);
  });

  it('a reload that brings a kernel-mode site to running workers is refused by each worker', () => {
    const reloaded = daemonConfig([RELAY_SITE, KERNEL_SITE]);
    expect(configForWorker(reloaded, { index: 0, count: 2 })).toEqual({
      ok: false,
      reason: 'site "k" is in kernel mode, which one process serves (each of 2 workers would replace the others\' nftables table); restart ftpmasq to apply it',
    });
    expect(configForWorker(reloaded, { index: 0, count: 1 }).ok).toBe(true);
  });
});

describe('worker messages', () => {
  it.each([
    { title: 'a signal', message: { ftpmasq: 'signal', signal: 'SIGHUP' }, expected: { ftpmasq: 'signal', signal: 'SIGHUP' } },
    { title: 'a signal ftpmasq does not handle', message: { ftpmasq: 'signal', signal: 'SIGKILL' }, expected: undefined },
    { title: "prom-client's message", message: { type: 'prom-client:getMetricsReq', requestId: 1 }, expected: undefined },
    { title: 'not an object', message: 'SIGTERM', expected: undefined },
    { title: 'null', message: null, expected: undefined },
  ])('parseSignalMessage: $title', ({ message, expected }) => {
    expect(parseSignalMessage(message)).toEqual(expected);
  });

  it.each([
    { title: 'a report', message: { ftpmasq: 'health', ready: true, detail: 'ready' }, expected: { ftpmasq: 'health', ready: true, detail: 'ready' } },
    { title: 'ready as text', message: { ftpmasq: 'health', ready: 'yes', detail: 'ready' }, expected: undefined },
    { title: 'no detail', message: { ftpmasq: 'health', ready: false }, expected: undefined },
    { title: 'a signal message', message: { ftpmasq: 'signal', signal: 'SIGHUP' }, expected: undefined },
  ])('parseHealthMessage: $title', ({ message, expected }) => {
    expect(parseHealthMessage(message)).toEqual(expected);
  });
});
