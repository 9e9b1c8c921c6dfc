import net from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { connFromSocket, tuneControlStream } from '../../../src/net/conn.js';
import { dialConn } from '../../../src/net/dial.js';

const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
});

/** A listener on `host`:0 that hands each accepted socket to the returned promise. */
async function listenOnce(host: string): Promise<{ port: number; accepted: Promise<net.Socket> }> {
  const server = net.createServer();
  servers.push(server);
  const accepted = new Promise<net.Socket>((resolve) =>
    server.once('connection', (socket: net.Socket) => {
      sockets.push(socket);
      resolve(socket);
    }),
  );
  await new Promise<void>((resolve) => server.listen({ host, port: 0 }, () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { port: address.port, accepted };
}

describe('connFromSocket', () => {
  it('takes both ends of an accepted socket, and dialConn the same ends from the other side', async () => {
    const { port, accepted } = await listenOnce('127.0.0.1');
    const dialled = await dialConn({ host: '127.0.0.1', port, timeoutMs: 2000, allowHalfOpen: false });
    sockets.push(dialled.stream as net.Socket);
    const conn = connFromSocket(await accepted);
    expect(conn.local).toEqual({ host: '127.0.0.1', port });
    expect(conn.peer).toEqual(dialled.local);
    expect(dialled.peer).toEqual({ host: '127.0.0.1', port });
    expect(conn.tls).toBeUndefined();
    expect(conn.stream).toBe(await accepted);
  });

  it('writes an IPv4-mapped peer as IPv4', async () => {
    // A dual-stack listener on [::] sees IPv4 clients as ::ffff:a.b.c.d.
    const { port, accepted } = await listenOnce('::');
    const client = net.connect({ host: '127.0.0.1', port });
    sockets.push(client);
    const conn = connFromSocket(await accepted);
    expect(conn.peer.host).toBe('127.0.0.1');
    expect(conn.local.host).toBe('127.0.0.1');
  });

  it('gives a socket that has no addresses any more an empty host and port 0', () => {
    const socket = new net.Socket();
    const conn = connFromSocket(socket);
    expect(conn.peer).toEqual({ host: '', port: 0 });
    expect(conn.local).toEqual({ host: '', port: 0 });
    socket.destroy();
  });
});

describe('tuneControlStream', () => {
  it('leaves a stream that is not a socket alone', () => {
    expect(() => tuneControlStream(new PassThrough())).not.toThrow();
  });
});
