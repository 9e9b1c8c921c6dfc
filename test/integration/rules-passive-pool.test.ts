/**
 * The passive port rules of docs/SECURITY.md that live in PassivePortPool: a port is bound for
 * the session from the moment it is handed out (bind-and-hold), a port another process holds is
 * skipped, ports go round-robin (a port just released is the last reused) and come back on
 * release. Real listeners on 127.0.0.1, this file's own range.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PassivePortPool, type PortLease } from '../../src/data/passive-port-pool.js';

// Below the ephemeral range (32768-60999); 28000-28999 is the rules block, this file 28100-28109.
const LOW = 28100;
const HIGH = 28103;

const leases: PortLease[] = [];
const squatters: net.Server[] = [];

afterEach(async () => {
  for (const lease of leases.splice(0)) lease.release();
  await Promise.all(squatters.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
});

async function acquire(pool: PassivePortPool): Promise<PortLease> {
  const lease = await pool.acquire('127.0.0.1');
  if (lease === undefined) throw new Error('the range is exhausted');
  leases.push(lease);
  return lease;
}

/** Another process's attempt to bind `port`: its error code, or 'bound' (then it holds the port). */
function squat(port: number): Promise<string> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    server.listen({ host: '127.0.0.1', port }, () => {
      squatters.push(server);
      resolve('bound');
    });
  });
}

describe('PassivePortPool', () => {
  // Breaks when acquire probes and lets go (`server.close()` right after the successful listen
  // in acquire, src/data/passive-port-pool.ts): the squatter binds the port.
  it('holds the port it hands out: it is listening at once and no one else can bind it', async () => {
    const pool = new PassivePortPool({ low: LOW, high: HIGH });
    const lease = await acquire(pool);
    expect(lease.server.listening).toBe(true);
    expect(await squat(lease.port)).toBe('EADDRINUSE');
    // Even once the relay has its connection and the listener is closed, the pool keeps the port.
    lease.stopListening();
    expect(pool.inUse).toBe(1);
    expect((await acquire(pool)).port).not.toBe(lease.port);
  });

  it('skips a port another process holds', async () => {
    expect(await squat(LOW)).toBe('bound');
    const pool = new PassivePortPool({ low: LOW, high: HIGH });
    expect((await acquire(pool)).port).toBe(LOW + 1);
  });

  // Breaks when acquire scans from range.low each time (`this.cursor = this.range.low` at its
  // start) instead of going on from the last port: the released port comes back at once.
  it('hands ports out round-robin: a released port is the last to be reused', async () => {
    const pool = new PassivePortPool({ low: LOW, high: HIGH });
    const first = await acquire(pool);
    first.release();
    const order: number[] = [];
    for (let i = 0; i <= HIGH - LOW; i++) {
      const lease = await acquire(pool);
      order.push(lease.port);
      lease.release();
    }
    expect(order).toEqual([LOW + 1, LOW + 2, LOW + 3, LOW]);
    expect(pool.inUse).toBe(0);
  });

  it('answers undefined when every port is held, and a release makes one free again', async () => {
    const pool = new PassivePortPool({ low: LOW, high: HIGH });
    const held = await Promise.all(Array.from({ length: HIGH - LOW + 1 }, () => acquire(pool)));
    expect(await pool.acquire('127.0.0.1')).toBeUndefined();
    held[2]?.release();
    expect((await acquire(pool)).port).toBe(held[2]?.port);
  });
});
