/**
 * `upstreamPreconnect` through a real daemon on loopback, in front of a counting upstream that
 * greets each connection with its own number: which connection a session got, when connections
 * are made, that the greeting reaches the client byte for byte, and that spares expire with QUIT,
 * are dropped when the server closes them, and are closed by a reload and by stop.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../src/daemon.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { delay } from '../helpers/raw-ftp-client.js';

const harness = createProxyHarness({ passivePorts: '31300-31319' });

interface UpstreamConnectionRecord {
  readonly number: number;
  readonly commands: string[];
  readonly socket: net.Socket;
  closed: boolean;
}

/** An upstream whose greeting names the connection: `220-` and `220 ` lines, split over two writes. */
class CountingUpstream {
  readonly connections: UpstreamConnectionRecord[] = [];
  private readonly server = net.createServer((socket) => this.onConnection(socket));

  /** `chatter`: bytes every connection after the first sends after its greeting, unasked. */
  constructor(private readonly chatter = '') {}

  static async start(chatter = ''): Promise<CountingUpstream> {
    const upstream = new CountingUpstream(chatter);
    await new Promise<void>((resolve) => upstream.server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
    return upstream;
  }

  get address(): string {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    return `127.0.0.1:${address.port}`;
  }

  /** Connections that said something: the readiness check's probes hang up without a byte. */
  get greeted(): UpstreamConnectionRecord[] {
    return this.connections.filter((connection) => !connection.closed || connection.commands.length > 0);
  }

  async stop(): Promise<void> {
    for (const connection of this.connections) connection.socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(socket: net.Socket): void {
    const record: UpstreamConnectionRecord = { number: this.connections.length + 1, commands: [], socket, closed: false };
    this.connections.push(record);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      record.closed = true;
    });
    socket.write(`220-connection ${record.number}\r\n`);
    setTimeout(() => socket.write(`220 ready ${record.number}\r\n${record.number > 1 ? this.chatter : ''}`), 5).unref();
    let text = '';
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      for (let end = text.indexOf('\r\n'); end !== -1; end = text.indexOf('\r\n')) {
        const line = text.slice(0, end);
        text = text.slice(end + 2);
        record.commands.push(line);
        const verb = line.split(' ')[0]?.toUpperCase();
        if (verb === 'USER') socket.write('331 password\r\n');
        else if (verb === 'PASS') socket.write(`230 logged in on ${record.number}\r\n`);
        else if (verb === 'QUIT') socket.end('221 bye\r\n');
        else socket.write('502 no\r\n');
      }
    });
  }
}

const upstreams: CountingUpstream[] = [];
afterEach(async () => {
  await Promise.all(upstreams.splice(0).map((upstream) => upstream.stop()));
});

async function countingUpstream(chatter = ''): Promise<CountingUpstream> {
  const upstream = await CountingUpstream.start(chatter);
  upstreams.push(upstream);
  return upstream;
}

function greetingOf(connection: UpstreamConnectionRecord | undefined): string {
  return `220-connection ${connection?.number ?? '?'}\r\n220 ready ${connection?.number ?? '?'}\r\n`;
}

async function until(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

async function preconnects(daemon: RunningDaemon): Promise<Record<string, number>> {
  const values = (await daemon.metrics.upstreamPreconnects.get()).values;
  return Object.fromEntries(values.map((value) => [String(value.labels.outcome), value.value]));
}

async function waiting(daemon: RunningDaemon): Promise<number> {
  return (await daemon.metrics.upstreamPreconnected.get()).values[0]?.value ?? -1;
}

describe('upstreamPreconnect', () => {
  it('dials nothing ahead until a session starts, then keeps N greeted connections for the next sessions', async () => {
    const upstream = await countingUpstream();
    const { daemon, endpoint } = await harness.startProxy(upstream.address, { upstreamPreconnect: '2' });
    await delay(100);
    expect(upstream.greeted).toHaveLength(0);

    const first = await harness.connect(endpoint);
    expect((await first.readReply()).text).toBe(greetingOf(upstream.greeted[0]));
    await until('two spares', () => upstream.greeted.length === 3);
    await until('two waiting', async () => (await waiting(daemon)) === 2);
    const spares = upstream.greeted.slice(1).map((connection) => connection.number);

    // The second client gets a spare: its greeting (sent 5 ms apart, long before) arrives whole, at once.
    const second = await harness.connect(endpoint);
    const greeting = await second.readReply(1000);
    const used = Number(/connection (\d+)/.exec(greeting.text)?.[1]);
    expect(spares).toContain(used);
    expect(greeting.text).toBe(`220-connection ${used}\r\n220 ready ${used}\r\n`);
    await second.command('USER scott');
    expect((await second.command('PASS tiger')).text).toBe(`230 logged in on ${used}\r\n`);
    expect(upstream.connections.find((connection) => connection.number === used)?.commands).toEqual(['USER scott', 'PASS tiger']);
    // Taking one dialled one more: two wait again.
    await until('the pool topped up', () => upstream.greeted.length === 4);
    await until('two waiting again', async () => (await waiting(daemon)) === 2);
    expect((await preconnects(daemon)).used).toBe(1);
  });

  it('closes a spare with QUIT after upstreamPreconnectMaxAge and makes no new one while no session starts', async () => {
    const upstream = await countingUpstream();
    const { daemon, endpoint } = await harness.startProxy(upstream.address, { upstreamPreconnect: '1', upstreamPreconnectMaxAge: '300ms' });
    const client = await harness.connect(endpoint);
    await client.readReply();
    await until('a spare', () => upstream.greeted.length === 2);
    const spare = upstream.greeted[1];
    await until('the spare sent QUIT', () => spare?.commands.join() === 'QUIT', 2000);
    await until('the spare closed', () => spare?.closed === true);
    await delay(500);
    expect(upstream.greeted).toHaveLength(2);
    expect(await preconnects(daemon)).toMatchObject({ expired: 1, used: 0 });
    expect(await waiting(daemon)).toBe(0);
  });

  it('drops a spare the server closed, and the next session dials afresh', async () => {
    const upstream = await countingUpstream();
    const { daemon, endpoint } = await harness.startProxy(upstream.address, { upstreamPreconnect: '1' });
    const first = await harness.connect(endpoint);
    await first.readReply();
    await until('a spare', () => upstream.greeted.length === 2);
    const closedSpare = upstream.greeted[1]?.number;
    upstream.greeted[1]?.socket.end('421 Login timeout\r\n');
    await until('the closed spare counted', async () => (await preconnects(daemon)).closed === 1);
    const second = await harness.connect(endpoint);
    const greeting = await second.readReply();
    const used = Number(/connection (\d+)/.exec(greeting.text)?.[1]);
    expect(used).toBeGreaterThan(closedSpare ?? Infinity);
    expect((await second.command('USER scott')).code).toBe(331);
    expect(upstream.connections.find((connection) => connection.number === used)?.commands).toEqual(['USER scott']);
  });

  it('drops a spare that gets more than a greeting (over 4 KiB), and the session dials afresh', async () => {
    const upstream = await countingUpstream(`${'x'.repeat(78)}\r\n`.repeat(60));
    const { daemon, endpoint } = await harness.startProxy(upstream.address, { upstreamPreconnect: '1' });
    const first = await harness.connect(endpoint);
    await first.readReply();
    await until('the chatty spare counted closed', async () => (await preconnects(daemon)).closed === 1);
    expect(await waiting(daemon)).toBe(0);
    const second = await harness.connect(endpoint);
    expect((await second.readReply()).text).toMatch(/^220-connection \d+\r\n220 ready \d+\r\n/);
    expect((await preconnects(daemon)).used).toBe(0);
  });

  it('closes its spares when a reload points the site at another upstream, and at stop', async () => {
    const before = await countingUpstream();
    const after = await countingUpstream();
    const { daemon, endpoint } = await harness.startProxy(before.address, { upstreamPreconnect: '2' });
    const client = await harness.connect(endpoint);
    await client.readReply();
    await until('two spares', () => before.greeted.length === 3);
    const reload = daemon.config.sites.map((site) => ({ ...site, upstream: { host: '127.0.0.1', port: Number(after.address.split(':')[1]) } }));
    await daemon.reload({ ...daemon.config, sites: reload });
    await until('the old spares quit', () => before.greeted.slice(1).every((connection) => connection.commands.join() === 'QUIT' && connection.closed));
    expect((await preconnects(daemon)).discarded).toBe(2);
    const next = await harness.connect(endpoint);
    await next.readReply();
    expect((await next.command('USER scott')).code).toBe(331);
    expect(after.greeted.some((connection) => connection.commands.join() === 'USER scott')).toBe(true);
    await until('spares of the new upstream', () => after.greeted.length === 3);
    await daemon.stop();
    await until('every spare quit at stop', () => after.greeted.slice(1).every((connection) => connection.commands.join() === 'QUIT'));
  });
});
