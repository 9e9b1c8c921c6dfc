/**
 * Issue #7: memory stays bounded with a slow reader. A client reads a download at ~64 KiB/s
 * while the upstream could send 256 MiB at loopback speed; ftpmasq's relay must pause the
 * upstream side whenever the client's socket is full, so the bytes wait in the upstream (and in
 * the kernel's socket buffers), not in ftpmasq's memory.
 *
 * Everything runs in this process (the in-process daemon, a streaming upstream, the client), so
 * RSS here is an upper bound on what the relay holds. Two assertions that can fail: RSS stays
 * within 32 MiB of its start, and the upstream got rid of only a few MiB (the pause reached it).
 * Without backpressure the relay would queue the whole 256 MiB in the client socket's buffer.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/schema.js';
import { start, type RunningDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';

// Below the ephemeral range (32768-60999); one hundred per integration file.
const PASSIVE_PORTS = '23700-23799';
const MIB = 1024 * 1024;
const FILE_BYTES = 256 * MIB;
/** One buffer written again and again: the upstream itself allocates nothing per chunk. */
const CHUNK = Buffer.alloc(64 * 1024, 0x5a);
const READ_BYTES_PER_SECOND = 64 * 1024;
const READ_MS = 4000;
const TICK_MS = 100;
const RSS_SLACK_BYTES = 32 * MIB;
const STEP_TIMEOUT_MS = 5000;

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), STEP_TIMEOUT_MS);
    }),
  ]);
}

/**
 * An upstream FTP server whose RETR streams FILE_BYTES from one repeated buffer, honouring
 * backpressure (write until full, then wait for drain), and counts what it handed to the socket.
 */
class StreamingUpstream {
  readonly server = net.createServer((socket) => this.onConnection(socket));
  readonly sockets = new Set<net.Socket>();
  bytesHandedOver = 0;
  dataClosed = false;

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    return address.port;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(control: net.Socket): void {
    this.sockets.add(control);
    control.on('close', () => this.sockets.delete(control));
    control.on('error', () => control.destroy());
    let dataServer: net.Server | undefined;
    let dataSocket: Promise<net.Socket> | undefined;
    let text = '';
    control.write('220 streaming upstream\r\n');
    control.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      let newline = text.indexOf('\n');
      while (newline !== -1) {
        const line = text.slice(0, newline).trim();
        text = text.slice(newline + 1);
        const verb = line.split(' ')[0]?.toUpperCase() ?? '';
        if (verb === 'USER') control.write('331 Password required\r\n');
        else if (verb === 'PASS') control.write('230 Logged in\r\n');
        else if (verb === 'TYPE') control.write('200 Type set\r\n');
        else if (verb === 'QUIT') control.end('221 Goodbye\r\n');
        else if (verb === 'PASV') {
          dataServer = net.createServer();
          const server = dataServer;
          dataSocket = new Promise((resolve) => server.once('connection', resolve));
          server.listen({ host: '127.0.0.1', port: 0 }, () => {
            const address = server.address();
            if (address === null || typeof address === 'string') return;
            control.write(`227 Entering Passive Mode (127,0,0,1,${address.port >> 8},${address.port & 0xff}).\r\n`);
          });
        } else if (verb === 'RETR' && dataSocket !== undefined) {
          const pending = dataSocket;
          const server = dataServer;
          void pending.then(async (socket) => {
            server?.close();
            this.sockets.add(socket);
            control.write('150 Opening BINARY mode data connection\r\n');
            const complete = await this.stream(socket);
            control.write(complete ? '226 Transfer complete\r\n' : '426 Connection closed; transfer aborted\r\n');
          });
        } else control.write('502 Not implemented\r\n');
        newline = text.indexOf('\n');
      }
    });
  }

  private async stream(socket: net.Socket): Promise<boolean> {
    let closed = false;
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      closed = true;
      this.dataClosed = true;
    });
    while (!closed && this.bytesHandedOver < FILE_BYTES) {
      this.bytesHandedOver += CHUNK.length;
      if (!socket.write(CHUNK)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            socket.off('drain', done);
            socket.off('close', done);
            resolve();
          };
          socket.on('drain', done);
          socket.on('close', done);
        });
      }
    }
    if (!closed) socket.end();
    return !closed;
  }
}

/** Reads control replies line by line (single-line replies are all this upstream sends). */
class ControlClient {
  private text = '';
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('latin1');
      let newline = this.text.indexOf('\n');
      while (newline !== -1) {
        this.lines.push(this.text.slice(0, newline).trim());
        this.text = this.text.slice(newline + 1);
        newline = this.text.indexOf('\n');
      }
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  async reply(): Promise<string> {
    while (this.lines.length === 0) {
      await withTimeout(new Promise<void>((resolve) => (this.waiter = resolve)), 'a control reply');
    }
    return this.lines.shift() ?? '';
  }

  async command(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }
}

function connect(port: number): Promise<net.Socket> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket));
      socket.once('error', reject);
    }),
    `a connection to port ${port}`,
  );
}

let upstream: StreamingUpstream;
let daemon: RunningDaemon;
let proxyPort: number;

beforeAll(async () => {
  upstream = new StreamingUpstream();
  const upstreamPort = await upstream.listen();
  const config = buildConfig({
    listen: '127.0.0.1:0',
    upstream: `127.0.0.1:${upstreamPort}`,
    metricsListen: 'off',
    passivePorts: PASSIVE_PORTS,
    logLevel: 'silent',
  });
  daemon = await start(config, { logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }) });
  proxyPort = daemon.addresses[0]?.port ?? 0;
});

afterAll(async () => {
  await daemon.stop();
  await upstream.close();
});

describe('a client reading a download at 64 KiB/s (issue #7)', () => {
  it('keeps RSS within 32 MiB of its start and pauses the upstream, then aborts cleanly', async () => {
    const control = new ControlClient(await connect(proxyPort));
    expect(await control.reply()).toMatch(/^220 /);
    expect(await control.command('USER scott')).toMatch(/^331 /);
    expect(await control.command('PASS tiger')).toMatch(/^230 /);
    expect(await control.command('TYPE I')).toMatch(/^200 /);
    const pasv = await control.command('PASV');
    const numbers = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(pasv)?.slice(1).map(Number);
    if (numbers === undefined) throw new Error(`unreadable 227: ${pasv}`);
    const data = await connect((numbers[4] ?? 0) * 256 + (numbers[5] ?? 0));
    data.on('error', () => undefined);

    // The client never lets the socket flow: each tick it takes at most its share from the
    // socket's buffer, so it reads READ_BYTES_PER_SECOND and the kernel's window does the rest.
    let received = 0;
    const share = (READ_BYTES_PER_SECOND * TICK_MS) / 1000;

    const rssStart = process.memoryUsage.rss();
    let rssPeak = rssStart;
    control.socket.write('RETR big.bin\r\n');
    expect(await control.reply()).toMatch(/^150 /);
    const readUntil = Date.now() + READ_MS;
    // Bounded: READ_MS / TICK_MS ticks.
    while (Date.now() < readUntil) {
      const available = data.readableLength;
      if (available > 0) {
        const chunk: unknown = data.read(Math.min(share, available));
        if (Buffer.isBuffer(chunk)) received += chunk.length;
      } else {
        data.read(0); // keep the socket reading into its buffer
      }
      await new Promise((resolve) => setTimeout(resolve, TICK_MS));
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
    }
    const handedOver = upstream.bytesHandedOver;
    const growth = rssPeak - rssStart;
    const context = `read ${received} bytes; upstream handed over ${handedOver}; RSS +${(growth / MIB).toFixed(1)} MiB`;
    // The client did read, at about the rate it set.
    expect(received, context).toBeGreaterThan((READ_BYTES_PER_SECOND * READ_MS) / 1000 / 2);
    expect(received, context).toBeLessThan(((READ_BYTES_PER_SECOND * READ_MS) / 1000) * 2);
    // The pause reached the upstream: what left it fits in socket buffers, far from 256 MiB.
    expect(handedOver, context).toBeLessThan(RSS_SLACK_BYTES);
    expect(growth, context).toBeLessThan(RSS_SLACK_BYTES);

    // Abort: the client drops the data connection midway; the server's 426 comes through, the
    // upstream's data socket is closed, and the session ends when the client quits.
    data.destroy();
    expect(await control.reply()).toMatch(/^426 /);
    expect(await control.command('QUIT')).toMatch(/^221 /);
    control.socket.destroy();
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    while (daemon.sessionCount() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(upstream.dataClosed).toBe(true);
    expect(daemon.sessionCount()).toBe(0);
  }, 20_000);
});
