/**
 * passivePortSharing and advertisedPassivePortOffset on loopback (docs/SCALING.md): sessions of
 * different client addresses (127.0.0.1, .2, .3 bound as sources) wait on one passive port at
 * once and each gets its own data; two sessions of one address never share a port; a connection
 * from an address nobody waits for is refused as on a port of its own. Checksums on both ends.
 */
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { countPortsInUse, countRefusals, createProxyHarness } from '../helpers/proxy-harness.js';
import { RawFtpClient, sha256, type Endpoint, type PassiveTarget } from '../helpers/raw-ftp-client.js';
import type { RunningDaemon } from '../../src/daemon.js';
import { PassivePortPool } from '../../src/data/passive-port-pool.js';

// This file's block: 29300-29399 (scale-out).
const SHARED_PORT = 29300;
const PAIR_LOW = 29310;
const PAIR_HIGH = 29311;
const OFFSET_PORT = 29320;
const POOL_LOW = 29330;
const POOL_HIGH = 29331;

const CLIENT_ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3'] as const;
const FILES = new Map(CLIENT_ADDRESSES.map((address, index) => [`file-${index}.bin`, randomBytes(256 * 1024 + index * 4099)]));

const { startProxy, legacyServer } = createProxyHarness({ passivePorts: `${SHARED_PORT}-${SHARED_PORT}` });

const opened: RawFtpClient[] = [];

async function loggedInFrom(proxy: Endpoint, localAddress: string): Promise<RawFtpClient> {
  const client = await RawFtpClient.open(proxy, { localAddress });
  opened.push(client);
  await client.login();
  return client;
}

/** RETR over a passive target already announced, the data connection made from `localAddress`. */
async function retrieveFrom(client: RawFtpClient, target: Endpoint, localAddress: string, name: string): Promise<{ data: Buffer; final: number | undefined }> {
  const data = await client.connectData(target, localAddress);
  const preliminary = await client.command(`RETR ${name}`);
  expect(preliminary.code).toBe(150);
  const [content, final] = await Promise.all([data.ended, client.readReply(10_000)]);
  return { data: content, final: final.code };
}

/** ftpmasq_passive_port_sessions: sessions holding a passive port. */
async function countPortSessions(daemon: RunningDaemon): Promise<number> {
  return (await daemon.metrics.passivePortSessions.get()).values[0]?.value ?? Number.NaN;
}

async function closeAll(): Promise<void> {
  await Promise.all(opened.splice(0).map((client) => client.close()));
}

describe('passivePortSharing', () => {
  it('three client addresses wait on one port at once and each gets its own file, intact', async () => {
    const upstream = await legacyServer({ files: FILES });
    const { daemon, endpoint } = await startProxy(upstream.address, { passivePortSharing: 'true' });
    try {
      const clients = await Promise.all(CLIENT_ADDRESSES.map((address) => loggedInFrom(endpoint, address)));
      const targets: PassiveTarget[] = [];
      for (const client of clients) targets.push(await client.pasv());
      // One port, one listener, three sessions waiting on it.
      expect(targets.map((target) => target.port)).toEqual([SHARED_PORT, SHARED_PORT, SHARED_PORT]);
      expect(await countPortsInUse(daemon)).toBe(1);
      expect(await countPortSessions(daemon)).toBe(3);
      // Connected in the reverse order of the PASVs: the dispatcher goes by address, not by turn.
      const results = await Promise.all(
        clients.map((client, index) => retrieveFrom(client, targets[index] ?? endpoint, CLIENT_ADDRESSES[index] ?? '', `file-${index}.bin`)).reverse(),
      );
      results.reverse().forEach((result, index) => {
        expect(result.final).toBe(226);
        expect(sha256(result.data)).toBe(sha256(FILES.get(`file-${index}.bin`) ?? Buffer.alloc(0)));
      });
      expect(await countRefusals(daemon, 'foreign_data_peer')).toBe(0);
      await closeAll();
      await expect.poll(() => countPortsInUse(daemon)).toBe(0);
      expect(await countPortSessions(daemon)).toBe(0);
    } finally {
      await closeAll();
    }
  });

  it('never puts two sessions of one client address on one port: the second gets the next port, a third none', async () => {
    const upstream = await legacyServer({ files: FILES });
    const { endpoint } = await startProxy(upstream.address, { passivePortSharing: 'true', passivePorts: `${PAIR_LOW}-${PAIR_HIGH}` });
    try {
      const first = await loggedInFrom(endpoint, '127.0.0.2');
      const second = await loggedInFrom(endpoint, '127.0.0.2');
      const third = await loggedInFrom(endpoint, '127.0.0.2');
      const other = await loggedInFrom(endpoint, '127.0.0.3');
      const ports = [(await first.pasv()).port, (await second.pasv()).port];
      expect(new Set(ports).size).toBe(2);
      expect((await third.command('PASV')).text).toBe("425 Can't open data connection: no free passive port.\r\n");
      // Another address still fits on a port those sessions hold.
      const otherTarget = await other.pasv();
      expect(ports).toContain(otherTarget.port);
      const result = await retrieveFrom(other, otherTarget, '127.0.0.3', 'file-1.bin');
      expect(result.final).toBe(226);
      expect(sha256(result.data)).toBe(sha256(FILES.get('file-1.bin') ?? Buffer.alloc(0)));
    } finally {
      await closeAll();
    }
  });

  it('refuses a connection from an address with no session waiting on the port, and the rightful client still gets its data', async () => {
    const upstream = await legacyServer({ files: FILES });
    const { daemon, endpoint } = await startProxy(upstream.address, { passivePortSharing: 'true' });
    try {
      const rightful = await loggedInFrom(endpoint, '127.0.0.2');
      const target = await rightful.pasv();
      const thief = await rightful.connectData(target, '127.0.0.9');
      await expect(thief.ended).resolves.toHaveLength(0);
      expect(await countRefusals(daemon, 'foreign_data_peer')).toBe(1);
      const result = await retrieveFrom(rightful, target, '127.0.0.2', 'file-2.bin');
      expect(result.final).toBe(226);
      expect(sha256(result.data)).toBe(sha256(FILES.get('file-2.bin') ?? Buffer.alloc(0)));
    } finally {
      await closeAll();
    }
  });

  it('off (the default): two client addresses get two ports', async () => {
    const upstream = await legacyServer({ files: FILES });
    const { endpoint } = await startProxy(upstream.address, { passivePorts: `${PAIR_LOW}-${PAIR_HIGH}` });
    try {
      const a = await loggedInFrom(endpoint, '127.0.0.2');
      const b = await loggedInFrom(endpoint, '127.0.0.3');
      expect((await a.pasv()).port).not.toBe((await b.pasv()).port);
    } finally {
      await closeAll();
    }
  });
});

describe('advertisedPassivePortOffset', () => {
  it('names the bound port plus the offset in 227 and 229; the mapped connection (to the bound port) transfers intact', async () => {
    const upstream = await legacyServer({ files: FILES });
    const { endpoint } = await startProxy(upstream.address, { passivePorts: `${OFFSET_PORT}-${OFFSET_PORT}`, advertisedPassivePortOffset: '1000' });
    try {
      const client = await loggedInFrom(endpoint, '127.0.0.1');
      const advertised = await client.pasv();
      expect(advertised.port).toBe(OFFSET_PORT + 1000);
      // What a NodePort or balancer does: public port P+1000 leads to ftpmasq's port P.
      const result = await retrieveFrom(client, { host: advertised.host, port: advertised.port - 1000 }, '127.0.0.1', 'file-0.bin');
      expect(result.final).toBe(226);
      expect(createHash('sha256').update(result.data).digest('hex')).toBe(sha256(FILES.get('file-0.bin') ?? Buffer.alloc(0)));
      expect((await client.command('EPSV')).text).toBe(`229 Entering Extended Passive Mode (|||${OFFSET_PORT + 1000}|)\r\n`);
    } finally {
      await closeAll();
    }
  });
});

/** Another process's attempt to bind `port` on 127.0.0.1: its error code, or 'bound' (and it lets go at once). */
function squat(port: number): Promise<string> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    server.listen({ host: '127.0.0.1', port }, () => server.close(() => resolve('bound')));
  });
}

function connectFrom(localAddress: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress }, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('PassivePortPool with sharing', () => {
  it('keeps a shared port bound until its last session lets go, and gives each session only its own address', async () => {
    const pool = new PassivePortPool({ low: POOL_LOW, high: POOL_HIGH }, { sharing: true });
    const first = await pool.acquire('127.0.0.1', '127.0.0.2');
    // The cursor moved on: the next session of another address joins the next port, the one after that the first again.
    const second = await pool.acquire('127.0.0.1', '127.0.0.3');
    const third = await pool.acquire('127.0.0.1', '127.0.0.3');
    if (first === undefined || second === undefined || third === undefined) throw new Error('the range is exhausted');
    expect([first.port, second.port, third.port]).toEqual([POOL_LOW, POOL_HIGH, POOL_LOW]);
    expect({ ports: pool.inUse, sessions: pool.sessionsHolding }).toEqual({ ports: 2, sessions: 3 });
    // 127.0.0.3 holds both ports now: a third session of it finds none.
    expect(await pool.acquire('127.0.0.1', '127.0.0.3')).toBeUndefined();

    const arrived: string[] = [];
    first.onConnection((socket) => {
      arrived.push(`first ${socket.remoteAddress ?? ''}`);
      socket.destroy();
    });
    third.onConnection((socket) => {
      arrived.push(`third ${socket.remoteAddress ?? ''}`);
      socket.destroy();
    });
    const sockets = [await connectFrom('127.0.0.3', POOL_LOW), await connectFrom('127.0.0.2', POOL_LOW)];
    await expect.poll(() => arrived.length).toBe(2);
    expect(arrived.sort()).toEqual(['first 127.0.0.2', 'third 127.0.0.3']);
    for (const socket of sockets) socket.destroy();

    first.release();
    expect(await squat(POOL_LOW)).toBe('EADDRINUSE');
    expect({ ports: pool.inUse, sessions: pool.sessionsHolding }).toEqual({ ports: 2, sessions: 2 });
    third.release();
    third.release();
    expect(await squat(POOL_LOW)).toBe('bound');
    second.release();
    expect({ ports: pool.inUse, sessions: pool.sessionsHolding }).toEqual({ ports: 0, sessions: 0 });
  });
});
