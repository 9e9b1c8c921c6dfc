/** DataRelay with a ReusedReadBuffer: every byte arrives, in order, whatever the sink's pace. */
import crypto from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DataRelay, ReusedReadBuffer, type RelayResult } from '../../src/data/data-relay.js';

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function listen(onConnection: (socket: net.Socket) => void): Promise<number> {
  const server = net.createServer({ allowHalfOpen: true }, onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => server.close());
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return address.port;
}

function connect(port: number, onread?: net.OnReadOpts): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true, ...(onread === undefined ? {} : { onread }) });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

const sha256 = (data: Buffer): string => crypto.createHash('sha256').update(data).digest('hex');

interface Scenario {
  readonly title: string;
  /** Milliseconds the sink stops reading after each MiB (forces partial writes and buffer swaps). */
  readonly sinkStallMs: number;
  /** Milliseconds between the source connecting and the relay attaching (data arrives early). */
  readonly attachDelayMs: number;
}

const scenarios: Scenario[] = [
  { title: 'a fast sink', sinkStallMs: 0, attachDelayMs: 0 },
  { title: 'a sink that stalls after every MiB', sinkStallMs: 15, attachDelayMs: 0 },
  { title: 'data that arrives before the relay is attached', sinkStallMs: 0, attachDelayMs: 50 },
];

describe('DataRelay with a reused read buffer', () => {
  for (const { title, sinkStallMs, attachDelayMs } of scenarios) {
    it(`delivers 24 MiB intact to ${title}, then half-closes`, async () => {
      const payload = crypto.randomBytes(24 * 1024 * 1024);
      const sourcePort = await listen((socket) => socket.end(payload));
      const received: Buffer[] = [];
      let receivedBytes = 0;
      let sinkEnded: () => void = () => undefined;
      const sinkDone = new Promise<void>((resolve) => (sinkEnded = resolve));
      const sinkPort = await listen((socket) => {
        let nextStall = 1024 * 1024;
        socket.on('data', (chunk: Buffer) => {
          received.push(chunk);
          receivedBytes += chunk.length;
          if (sinkStallMs > 0 && receivedBytes >= nextStall) {
            nextStall += 1024 * 1024;
            socket.pause();
            setTimeout(() => socket.resume(), sinkStallMs);
          }
        });
        socket.on('end', () => {
          socket.end();
          sinkEnded();
        });
      });
      const reader = new ReusedReadBuffer();
      const upstream = await connect(sourcePort, reader.onread);
      const client = await connect(sinkPort);
      if (attachDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, attachDelayMs));
      const closed = new Promise<RelayResult>((resolve) => new DataRelay(client, upstream, resolve, { upstream: reader }));
      await sinkDone;
      const result = await closed;
      expect(receivedBytes).toBe(payload.length);
      expect(sha256(Buffer.concat(received))).toBe(sha256(payload));
      expect(result).toMatchObject({ reason: 'complete', bytesToClient: payload.length, bytesToUpstream: 0 });
    });
  }
});
