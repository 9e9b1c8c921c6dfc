/**
 * The kernel branch of DataConnector (issue 14) where it decides without the kernel: a PROT P
 * transfer is relayed (its TLS ends in ftpmasq), and a forward that cannot be installed gives the
 * port back to the pool. Real passive ports on 127.0.0.1 (29500-29509); the kernel path itself
 * runs in test/e2e/kernel.test.ts.
 */
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { DataConnector } from '../../src/data/data-connector.js';
import { PassivePortPool } from '../../src/data/passive-port-pool.js';
import { KernelForwarder } from '../../src/kernel/kernel-forwarder.js';
import type { Conn } from '../../src/net/conn.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';

const log = createLogger('silent');
const conn = (host: string): Conn => ({ stream: new PassThrough(), peer: { host, port: 40000 }, local: { host, port: 21 }, tls: undefined });
const connectors: DataConnector[] = [];

function connector(pool: PassivePortPool, protP: boolean, upstream: Conn | undefined): DataConnector {
  const data = new DataConnector({
    pool,
    metrics: new Metrics().forSite('kernel'),
    log,
    connectTimeoutMs: 1000,
    passiveTimeoutMs: 1000,
    stallTimeoutMs: 1000,
    client: conn('127.0.0.1'),
    upstream: () => upstream,
    refuse: () => undefined,
    onSettled: () => undefined,
    clientDataTls: () => (protP ? () => Promise.reject(new Error('not used')) : undefined),
    // Never started: every install fails, as when nft does.
    kernel: new KernelForwarder(log),
  });
  connectors.push(data);
  return data;
}

afterEach(() => {
  for (const data of connectors.splice(0)) data.close();
});

describe('DataConnector, kernel mode', () => {
  it('PROT P: the passive port is relayed by ftpmasq, listening for the client', async () => {
    const pool = new PassivePortPool({ low: 29500, high: 29504 });
    const data = connector(pool, true, conn('127.0.0.1'));
    const lease = await pool.acquire('127.0.0.1');
    if (lease === undefined) throw new Error('no port');
    expect(await data.prepareKernelPassive(lease, 21)).toBe(true);
    expect(lease.server.listening).toBe(true);
    expect(pool.inUse).toBe(1);
  });

  it.each([
    { title: 'the kernel refused the forward', upstream: conn('127.0.0.1') },
    { title: 'no upstream control connection', upstream: undefined },
    { title: 'an IPv6 upstream', upstream: conn('::1') },
  ])('$title: false, and the port goes back to the pool', async ({ upstream }) => {
    const pool = new PassivePortPool({ low: 29505, high: 29509 });
    const data = connector(pool, false, upstream);
    const lease = await pool.acquire('127.0.0.1');
    if (lease === undefined) throw new Error('no port');
    expect(await data.prepareKernelPassive(lease, 21)).toBe(false);
    expect(pool.inUse).toBe(0);
  });
});
