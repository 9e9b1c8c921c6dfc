/**
 * An accepted, still-paused socket re-created around its handle with a reused read buffer:
 * this pins the Node behaviour adoptWithReusedBuffer relies on (`_handle`, `new net.Socket({ handle })`).
 * If a Node upgrade breaks it, the first test fails here rather than uploads silently costing more.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { adoptWithReusedBuffer } from '../../src/data/adopt-accepted.js';
import { DataRelay, ReusedReadBuffer, type RelayResult } from '../../src/data/data-relay.js';

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function listen(options: net.ServerOpts, onConnection: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer(options, onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return address.port;
}

const sha256 = (data: Buffer): string => crypto.createHash('sha256').update(data).digest('hex');

describe('adoptWithReusedBuffer', () => {
  it('takes over a paused accepted socket, which then relays a 24 MiB upload intact with a half-close', async () => {
    const payload = crypto.randomBytes(24 * 1024 * 1024);
    const received: Buffer[] = [];
    let serverEnded: () => void = () => undefined;
    const serverDone = new Promise<void>((resolve) => (serverEnded = resolve));
    const serverPort = await listen({ allowHalfOpen: true }, (socket) => {
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      socket.on('end', () => {
        socket.end('stored');
        serverEnded();
      });
    });
    let accepted: (socket: net.Socket) => void = () => undefined;
    const acceptedSocket = new Promise<net.Socket>((resolve) => (accepted = resolve));
    const proxyPort = await listen({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => accepted(socket));
    const client = net.connect({ port: proxyPort, host: '127.0.0.1', allowHalfOpen: true });
    const clientReply: Buffer[] = [];
    client.on('data', (chunk: Buffer) => clientReply.push(chunk));
    const clientClosed = new Promise<void>((resolve) => client.on('close', () => resolve()));
    client.end(payload);

    const original = await acceptedSocket;
    const adopted = adoptWithReusedBuffer(original, new ReusedReadBuffer());
    expect(adopted.reader, 'Node no longer lets ftpmasq adopt an accepted socket').toBeDefined();
    expect(adopted.socket).not.toBe(original);
    expect(adopted.socket.remoteAddress).toBe('127.0.0.1');
    const upstream = net.connect({ port: serverPort, host: '127.0.0.1', allowHalfOpen: true });
    await new Promise<void>((resolve) => upstream.once('connect', () => resolve()));
    const result = await new Promise<RelayResult>((resolve) => {
      new DataRelay(adopted.socket, upstream, resolve, { client: adopted.reader });
    });
    await serverDone;
    await clientClosed;
    expect(sha256(Buffer.concat(received))).toBe(sha256(payload));
    expect(Buffer.concat(clientReply).toString('latin1')).toBe('stored');
    expect(result).toMatchObject({ reason: 'complete', bytesToUpstream: payload.length, bytesToClient: 6 });
  });

  it('leaves a socket that has started reading as it is', async () => {
    let accepted: (socket: net.Socket) => void = () => undefined;
    const acceptedSocket = new Promise<net.Socket>((resolve) => (accepted = resolve));
    const port = await listen({}, (socket) => accepted(socket));
    const client = net.connect({ port, host: '127.0.0.1' });
    closers.push(() => client.destroy());
    const socket = await acceptedSocket;
    closers.push(() => socket.destroy());
    socket.resume();
    const adopted = adoptWithReusedBuffer(socket, new ReusedReadBuffer());
    expect(adopted.socket).toBe(socket);
    expect(adopted.reader).toBeUndefined();
  });
});
