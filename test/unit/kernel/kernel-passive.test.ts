import net from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KernelPassive } from '../../../src/data/kernel-passive.js';
import type { PortLease } from '../../../src/data/passive-port-pool.js';
import type { KernelForward } from '../../../src/kernel/kernel-forwarder.js';
import type { ForwardCounters, KernelForwardSpec } from '../../../src/kernel/nft-ruleset.js';
import type { Conn } from '../../../src/net/conn.js';
import { createLogger } from '../../../src/observability/logger.js';
import { Metrics } from '../../../src/observability/metrics.js';

const COUNTERS: ForwardCounters = { toServer: { packets: 3, bytes: 180 }, toClient: { packets: 4, bytes: 1240 } };
const conn = (peer: string, local: string): Conn => ({ stream: new PassThrough(), peer: { host: peer, port: 40000 }, local: { host: local, port: 21 }, tls: undefined });

interface Recorded {
  readonly events: string[];
  readonly lease: PortLease & { released: boolean; listening: boolean };
}

function setUp(install: 'ok' | 'fail' = 'ok'): { passive: KernelPassive; recorded: Recorded; metrics: Metrics } {
  const events: string[] = [];
  const lease = {
    port: 29510,
    server: net.createServer(),
    released: false,
    listening: true,
    onConnection: () => undefined,
    stopListening: () => {
      lease.listening = false;
    },
    release: () => {
      lease.released = true;
      lease.listening = false;
    },
  };
  const metrics = new Metrics();
  const kernel = {
    install: (fields: Omit<KernelForwardSpec, 'id'>): Promise<KernelForward | undefined> => {
      events.push(`install ${fields.client} ${fields.port} -> ${fields.server}:${fields.serverPort} via ${fields.source}`);
      if (install === 'fail') return Promise.resolve(undefined);
      const forward: KernelForward = {
        spec: { ...fields, id: 'f1' },
        disarm: () => void events.push('disarm'),
        finish: (settle) => {
          events.push(`finish settle=${settle}`);
          return Promise.resolve(COUNTERS);
        },
      };
      return Promise.resolve(forward);
    },
  };
  const passive = new KernelPassive({
    kernel,
    metrics: metrics.forSite('k'),
    log: createLogger('silent'),
    passiveTimeoutMs: 1000,
    client: conn('203.0.113.2', '203.0.113.10'),
    upstream: () => conn('10.0.11.251', '10.0.11.1'),
  });
  return { passive, recorded: { events, lease }, metrics };
}

async function bytes(metrics: Metrics, direction: string): Promise<number> {
  const metric = await metrics.registry.getSingleMetric('ftpmasq_data_bytes_total')?.get();
  return metric?.values.find((value) => value.labels['direction'] === direction)?.value ?? 0;
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('KernelPassive (issue 14)', () => {
  it('installs for the client, from the gateway, with the port leased and not listened on', async () => {
    const { passive, recorded } = setUp();
    expect(await passive.prepare(recorded.lease, 60123)).toBe(true);
    expect(recorded.events).toEqual(['install 203.0.113.2 29510 -> 10.0.11.251:60123 via 10.0.11.1']);
    expect(recorded.lease).toMatchObject({ listening: false, released: false });
  });

  it('the final reply finishes it once its counters settle; the bytes are counted; the port goes back', async () => {
    const { passive, recorded, metrics } = setUp();
    await passive.prepare(recorded.lease, 60123);
    passive.transferReplied();
    passive.transferReplied();
    await vi.runAllTimersAsync();
    expect(recorded.events.slice(1)).toEqual(['finish settle=true']);
    expect(recorded.lease.released).toBe(true);
    expect(await bytes(metrics, 'to_client')).toBe(1240);
    expect(await bytes(metrics, 'to_server')).toBe(180);
  });

  it('the passive timeout disarms only; the transfer reply still finishes it', async () => {
    const { passive, recorded } = setUp();
    await passive.prepare(recorded.lease, 60123);
    await vi.advanceTimersByTimeAsync(1000);
    expect(recorded.events.slice(1)).toEqual(['disarm']);
    expect(recorded.lease.released).toBe(false);
    passive.transferReplied();
    await vi.runAllTimersAsync();
    expect(recorded.events.slice(1)).toEqual(['disarm', 'finish settle=true']);
  });

  it('the session end finishes it at once, without waiting for the counters to settle; no timer is left', async () => {
    const { passive, recorded } = setUp();
    await passive.prepare(recorded.lease, 60123);
    passive.close();
    await vi.runAllTimersAsync();
    expect(recorded.events.slice(1)).toEqual(['finish settle=false']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a session closed while installing: the new forward is finished at once and false returned', async () => {
    const { passive, recorded } = setUp();
    const preparing = passive.prepare(recorded.lease, 60123);
    passive.close();
    expect(await preparing).toBe(false);
    await vi.runAllTimersAsync();
    expect(recorded.events.slice(1)).toEqual(['finish settle=false']);
    expect(recorded.lease.released).toBe(true);
  });

  it('an install that fails: false, the port goes back', async () => {
    const { passive, recorded } = setUp('fail');
    expect(await passive.prepare(recorded.lease, 60123)).toBe(false);
    expect(recorded.lease.released).toBe(true);
  });
});
