/**
 * Hostile or broken upstreams are bounded (issue 11, item 5). Each test pins a bug of the code
 * before it: a multi-line 227 that never ends grew memory without bound; a 227 naming a port
 * below 1024 was dialled; a command the server never answers left the client waiting forever.
 */
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../src/daemon.js';
import type { UpstreamStage } from '../../src/observability/metrics.js';
import { MAX_HELD_REPLY_BYTES, MAX_HELD_REPLY_LINES } from '../../src/session/reply-router.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { delay, withTimeout } from '../helpers/raw-ftp-client.js';
import type { UpstreamConnection } from '../helpers/scripted-upstream.js';

const { startProxy, scripted, openLoggedIn } = createProxyHarness({ passivePorts: '25000-25099' });

async function upstreamErrors(daemon: RunningDaemon, stage: UpstreamStage): Promise<number> {
  return (await daemon.metrics.upstreamErrors.get()).values.find((value) => value.labels.stage === stage)?.value ?? 0;
}

/** Writes `line` until the proxy hangs up, respecting backpressure; bounded in count and time. */
async function streamForever(connection: UpstreamConnection, line: string, maxLines = 2_000_000): Promise<number> {
  const socket = connection.socket;
  const bytes = Buffer.from(line.repeat(1024), 'latin1');
  const deadline = Date.now() + 10_000;
  let written = 0;
  while (!socket.destroyed && !socket.writableEnded && written < maxLines && Date.now() < deadline) {
    written += 1024;
    if (!socket.write(bytes)) {
      await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), connection.closed, delay(1000)]);
    }
  }
  return written;
}

describe('a held multi-line 227/229 is capped', () => {
  it(`ends the session with 421 when a 227- reply streams continuation lines forever, and the next session is served`, async () => {
    let sessions = 0;
    let linesWritten = 0;
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      const first = ++sessions === 1;
      await connection.serve(async (verb) => {
        if (verb !== 'PASV') return undefined;
        if (!first) return '227 Entering Passive Mode (10,0,11,251,195,80).\r\n';
        connection.write('227-Entering Passive Mode\r\n');
        // Three-byte lines: the cheapest for the server, the dearest to hold (issue 11: ~20x).
        linesWritten = await streamForever(connection, 'x\r\n');
        return undefined;
      });
    });
    const { daemon, endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    client.send('PASV');
    const reply = await client.readReply(10_000);
    expect(reply.code).toBe(421);
    await client.waitForClose();
    expect(await upstreamErrors(daemon, 'bad_reply')).toBe(1);
    // ftpmasq hung up on the upstream well before the script's own bound.
    expect(linesWritten).toBeLessThan(2_000_000);
    const next = await openLoggedIn(endpoint);
    expect((await next.command('NOOP')).code).toBe(200);
    expect((await next.command('PASV')).code).toBe(227);
    expect(daemon.sessionCount()).toBe(1);
  });

  const limits: { title: string; lines: string[] }[] = [
    { title: `more than ${MAX_HELD_REPLY_LINES} lines`, lines: Array.from({ length: MAX_HELD_REPLY_LINES + 1 }, () => ' x\r\n') },
    { title: `more than ${MAX_HELD_REPLY_BYTES} bytes in few lines`, lines: Array.from({ length: 20 }, () => ` ${'y'.repeat(1000)}\r\n`) },
  ];
  it.each(limits)('ends the session with 421 on a 229 of $title', async ({ lines }) => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve((verb) => (verb === 'EPSV' ? `229-Entering Extended Passive Mode\r\n${lines.join('')}229 (|||50000|)\r\n` : undefined));
    });
    const { daemon, endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    expect((await client.command('EPSV')).code).toBe(421);
    await client.waitForClose();
    expect(await upstreamErrors(daemon, 'bad_reply')).toBe(1);
  });

  it('still answers a multi-line 227 within the limits', async () => {
    const body = Array.from({ length: MAX_HELD_REPLY_LINES - 2 }, () => ' x\r\n').join('');
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve((verb) => (verb === 'PASV' ? `227-Entering Passive Mode\r\n${body}227 (10,0,11,251,195,80)\r\n` : undefined));
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    expect((await client.command('PASV')).code).toBe(227);
  });
});

/** A listener on a port below 1024 on 127.0.0.1 (the tests run as root), or undefined if none can be bound. */
async function privilegedListener(): Promise<{ port: number; accepted: () => number; close: () => Promise<void> } | undefined> {
  for (const port of [1021, 1019, 1017, 1013, 1011, 1009]) {
    const server = net.createServer();
    let accepted = 0;
    server.on('connection', (socket) => {
      accepted++;
      socket.destroy();
    });
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ host: '127.0.0.1', port }, () => resolve(true));
    });
    if (bound) return { port, accepted: () => accepted, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }
  return undefined;
}

describe('a 227/229 naming a port below 1024', () => {
  it('is never dialled: 425 to PASV, EPSV and PORT, counted as bad_reply, and the session goes on', async () => {
    const listener = await privilegedListener();
    const port = listener?.port ?? 22;
    try {
      const upstream = await scripted(async (connection) => {
        await connection.greetAndLogin();
        await connection.serve((verb) => {
          if (verb === 'PASV') return `227 Entering Passive Mode (127,0,0,1,${port >> 8},${port & 0xff}).\r\n`;
          if (verb === 'EPSV') return `229 Entering Extended Passive Mode (|||${port}|)\r\n`;
          if (verb === 'RETR') return '150 Opening\r\n';
          return undefined;
        });
      });
      const { daemon, endpoint } = await startProxy(upstream.address);
      const client = await openLoggedIn(endpoint);
      expect((await client.command('PASV')).code).toBe(425);
      expect((await client.command('EPSV')).code).toBe(425);
      const active = await client.listenActive();
      expect((await client.command(`PORT ${active.portArgument}`)).code).toBe(425);
      expect((await client.command('NOOP')).code).toBe(200);
      expect(await upstreamErrors(daemon, 'bad_reply')).toBe(3);
      expect(listener?.accepted() ?? 0).toBe(0);
    } finally {
      await listener?.close();
    }
  });
});

describe('the reply timeout', () => {
  it('ends the session with 421 when the upstream never answers a command', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.serve((verb) => (verb === 'SITE' ? Buffer.alloc(0) : undefined));
    });
    const { daemon, endpoint } = await startProxy(upstream.address, { replyTimeout: '300ms' });
    const client = await openLoggedIn(endpoint);
    const reply = await client.command('SITE IGNORED', 5000);
    expect(reply.text).toBe('421 Service not available: the server did not answer in time.\r\n');
    await client.waitForClose();
    expect(await upstreamErrors(daemon, 'reply_timeout')).toBe(1);
  });

  it('covers a line the server silently ignores (an empty line): the client is not left waiting', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      // ProFTPD reads an empty command line and answers nothing.
      await connection.serve((_verb, line) => (line.length <= 2 ? Buffer.alloc(0) : undefined));
    });
    const { endpoint } = await startProxy(upstream.address, { replyTimeout: '300ms' });
    const client = await openLoggedIn(endpoint);
    client.writeRaw('\n');
    // The command framing answers an empty line itself (never sent upstream), so the server's
    // silence cannot hold the client; the session goes on.
    expect((await client.readReply(5000)).code).toBe(500);
    expect((await client.command('NOOP')).code).toBe(200);
    const session = await upstream.nextSession();
    expect(session.receivedBytes().toString('latin1')).not.toMatch(/\n\r?\n|^\r?\n/);
  });

  it('does not run while a transfer moves data: a download slower than the timeout arrives whole, then 226', async () => {
    const chunks = 8;
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      let dataPort: Awaited<ReturnType<UpstreamConnection['openDataPort']>> | undefined;
      await connection.serve(async (verb) => {
        if (verb === 'PASV') {
          dataPort = await connection.openDataPort();
          return `227 Entering Passive Mode (${dataPort.tuple()}).\r\n`;
        }
        if (verb !== 'RETR' || dataPort === undefined) return undefined;
        const data = await dataPort.accept();
        connection.write('150 Opening data connection\r\n');
        for (let i = 0; i < chunks; i++) {
          await data.send(Buffer.alloc(1000, 0x61 + i), { end: i === chunks - 1 });
          await delay(100);
        }
        await data.closed;
        return '226 Transfer complete\r\n';
      });
    });
    const { endpoint } = await startProxy(upstream.address, { replyTimeout: '300ms' });
    const client = await openLoggedIn(endpoint);
    const result = await client.retrieve('slow.bin');
    expect(result.final.code).toBe(226);
    expect(result.data.length).toBe(chunks * 1000);
    expect(result.data.subarray(-1000).equals(Buffer.alloc(1000, 0x61 + chunks - 1))).toBe(true);
    expect((await client.command('NOOP')).code).toBe(200);
  });

  it('is bounded too when the upstream goes silent after the data: 421', async () => {
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      let dataPort: Awaited<ReturnType<UpstreamConnection['openDataPort']>> | undefined;
      await connection.serve(async (verb) => {
        if (verb === 'PASV') {
          dataPort = await connection.openDataPort();
          return `227 Entering Passive Mode (${dataPort.tuple()}).\r\n`;
        }
        if (verb !== 'RETR' || dataPort === undefined) return undefined;
        const data = await dataPort.accept();
        connection.write('150 Opening data connection\r\n');
        await data.send(Buffer.from('all of it'), { end: true });
        return Buffer.alloc(0); // no 226, ever
      });
    });
    const { endpoint } = await startProxy(upstream.address, { replyTimeout: '300ms' });
    const client = await openLoggedIn(endpoint);
    const target = await client.pasv();
    const connection = await client.connectData(target);
    client.send('RETR file');
    expect((await client.readReply()).code).toBe(150);
    expect((await withTimeout(connection.ended, 5000, () => 'no data EOF')).toString()).toBe('all of it');
    expect((await client.readReply(5000)).code).toBe(421);
  });
});
