import { setImmediate as tick } from 'node:timers/promises';
import { Duplex, PassThrough, duplexPair } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { isAbortLine, isUrgentAbortTail } from '../../../src/protocol/urgent-abort.js';
import { type ChannelFraming, ControlChannel, type ControlChannelHandlers, READ_AHEAD_BYTES } from '../../../src/session/control-channel.js';

type Event = { kind: 'line'; text: string } | { kind: 'too-long' } | { kind: 'end'; unterminated: string | undefined } | { kind: 'close' } | { kind: 'error'; message: string } | { kind: 'drain' };

/** A channel over one end of a duplex pair; the test plays the peer on the other end. */
function open(options: { maxLineBytes?: number; framing?: ChannelFraming; onLine?: (line: Buffer, channel: ControlChannel) => void } = {}): {
  channel: ControlChannel;
  peer: Duplex;
  local: Duplex;
  events: Event[];
  lines: () => string[];
} {
  const [local, peer] = duplexPair();
  const events: Event[] = [];
  const handlers: ControlChannelHandlers = {
    line: (line) => {
      events.push({ kind: 'line', text: line.toString('latin1') });
      options.onLine?.(line, channel);
    },
    tooLong: () => events.push({ kind: 'too-long' }),
    end: (unterminated) => events.push({ kind: 'end', unterminated: unterminated?.toString('latin1') }),
    close: () => events.push({ kind: 'close' }),
    error: (error) => events.push({ kind: 'error', message: error.message }),
    drain: () => events.push({ kind: 'drain' }),
  };
  const channel = new ControlChannel(local, handlers, options.maxLineBytes, options.framing);
  const lines = (): string[] => events.flatMap((event) => (event.kind === 'line' ? [event.text] : []));
  return { channel, peer, local, events, lines };
}

describe('ControlChannel', () => {
  it('hands on complete lines as the exact bytes, whatever the chunking', async () => {
    const { peer, lines } = open();
    for (const chunk of ['US', 'ER a\r', '\nPASS b\r\nNO', 'OP\n']) {
      peer.write(chunk);
      await tick();
    }
    expect(lines()).toEqual(['USER a\r\n', 'PASS b\r\n', 'NOOP\n']);
  });

  it('reports an overlong line once and hands on nothing after it', async () => {
    const { peer, events } = open({ maxLineBytes: 8 });
    peer.write('OK\r\n0123456789\r\nNOOP\r\n');
    await tick();
    expect(events).toEqual([{ kind: 'line', text: 'OK\r\n' }, { kind: 'too-long' }]);
  });

  it('ends after the last line, with an unterminated last line handed to end', async () => {
    const { peer, events } = open();
    peer.end('221 Bye\r\n221 no CRLF');
    await tick();
    await tick();
    expect(events.slice(0, 2)).toEqual([
      { kind: 'line', text: '221 Bye\r\n' },
      { kind: 'end', unterminated: '221 no CRLF' },
    ]);
  });

  describe('hold and release', () => {
    it('keeps lines read while held, and their end, until released, in order', async () => {
      const { channel, peer, events, lines } = open({
        onLine: (line, self) => {
          if (line.toString('latin1') === 'RETR x\r\n') self.hold();
        },
      });
      peer.write('RETR x\r\nNOOP\r\n');
      await tick();
      peer.end('QUIT\r\n');
      await tick();
      await tick();
      expect(lines()).toEqual(['RETR x\r\n']);
      expect(events.some((event) => event.kind === 'end')).toBe(false);
      channel.release();
      // The lines read before the hold at once; the paused stream's rest once it flows again.
      expect(lines()).toEqual(['RETR x\r\n', 'NOOP\r\n']);
      await tick();
      await tick();
      expect(lines()).toEqual(['RETR x\r\n', 'NOOP\r\n', 'QUIT\r\n']);
      expect(events.at(-1)).toEqual({ kind: 'end', unterminated: undefined });
    });

    it('hands a line put back on again after release, before the lines behind it', async () => {
      let first = true;
      const { channel, peer, lines } = open({
        onLine: (line, self) => {
          if (first && line.toString('latin1') === 'RETR x\r\n') {
            first = false;
            self.putBack(line);
            self.hold();
          }
        },
      });
      peer.write('RETR x\r\nNOOP\r\n');
      await tick();
      channel.release();
      expect(lines()).toEqual(['RETR x\r\n', 'RETR x\r\n', 'NOOP\r\n']);
    });

    it('stops reading the stream while held', async () => {
      const { channel, local } = open();
      channel.hold();
      expect(local.isPaused()).toBe(true);
      channel.release();
      expect(local.isPaused()).toBe(false);
    });
  });

  it('reads again only when every pause reason is gone', () => {
    const { channel, local } = open();
    channel.pause('backpressure');
    channel.pause('pipeline');
    channel.resume('backpressure');
    expect(local.isPaused()).toBe(true);
    channel.resume('backpressure');
    expect(local.isPaused()).toBe(true);
    channel.resume('pipeline');
    expect(local.isPaused()).toBe(false);
  });

  it('reports a full write buffer through write() and the drain that follows', async () => {
    const stream = new PassThrough({ highWaterMark: 4 });
    const events: string[] = [];
    const channel = new ControlChannel(stream, {
      line: () => undefined,
      tooLong: () => undefined,
      end: () => undefined,
      close: () => undefined,
      error: () => undefined,
      drain: () => events.push('drain'),
    });
    stream.pause();
    expect(channel.write(Buffer.from('200 okay\r\n'))).toBe(false);
    stream.read();
    await tick();
    expect(events).toEqual(['drain']);
  });

  it('takeUnread returns the waiting lines and the unfinished line, and removes them', async () => {
    const { channel, peer, lines } = open({
      onLine: (line, self) => {
        if (line.toString('latin1') === 'AUTH TLS\r\n') self.hold();
      },
    });
    peer.write('AUTH TLS\r\n\x16\x03\x01\n\x00\x05rest');
    await tick();
    expect(lines()).toEqual(['AUTH TLS\r\n']);
    expect(channel.takeUnread().toString('latin1')).toBe('\x16\x03\x01\n\x00\x05rest');
    expect(channel.takeUnread().length).toBe(0);
    channel.release();
    expect(lines()).toEqual(['AUTH TLS\r\n']);
  });

  describe('swapStream', () => {
    it('continues the same line reader on the new stream: nothing lost, nothing doubled', async () => {
      const { channel, peer, lines } = open();
      peer.write('USER a\r\nPA');
      await tick();
      const [next, nextPeer] = duplexPair();
      channel.swapStream(next);
      nextPeer.write('SS b\r\nNOOP\r\n');
      await tick();
      expect(lines()).toEqual(['USER a\r\n', 'PASS b\r\n', 'NOOP\r\n']);
      expect(channel.stream).toBe(next);
    });

    it("moves the listeners: the old stream's data, end, close and errors no longer reach the session", async () => {
      const { channel, peer, local, events } = open();
      const [next, nextPeer] = duplexPair();
      channel.swapStream(next);
      peer.write('STOLEN\r\n');
      local.emit('error', new Error('old stream failed'));
      peer.end();
      local.destroy();
      await tick();
      await tick();
      expect(events).toEqual([]);
      expect(local.listenerCount('data')).toBe(0);
      nextPeer.end('NOOP\r\n');
      await tick();
      await tick();
      expect(events.slice(0, 2)).toEqual([
        { kind: 'line', text: 'NOOP\r\n' },
        { kind: 'end', unterminated: undefined },
      ]);
    });

    it('writes to the new stream and keeps the pause reasons', async () => {
      const { channel } = open();
      channel.pause('backpressure');
      const [next, nextPeer] = duplexPair();
      channel.swapStream(next);
      expect(next.isPaused()).toBe(true);
      channel.write(Buffer.from('234 go\r\n'));
      const received: Buffer[] = [];
      nextPeer.on('data', (chunk: Buffer) => received.push(chunk));
      await tick();
      expect(Buffer.concat(received).toString('latin1')).toBe('234 go\r\n');
      channel.resume('backpressure');
      expect(next.isPaused()).toBe(false);
    });

    it('keeps the lines held across the swap and hands them on after release', async () => {
      const { channel, peer, lines } = open({
        onLine: (line, self) => {
          if (line.toString('latin1') === 'AUTH TLS\r\n') self.hold();
        },
      });
      peer.write('AUTH TLS\r\nPBSZ 0\r\nPR');
      await tick();
      const [next, nextPeer] = duplexPair();
      channel.swapStream(next);
      nextPeer.write('OT P\r\n');
      await tick();
      expect(lines()).toEqual(['AUTH TLS\r\n']);
      channel.release();
      await tick();
      expect(lines()).toEqual(['AUTH TLS\r\n', 'PBSZ 0\r\n', 'PROT P\r\n']);
    });
  });

  describe('endGracefully', () => {
    it('sends the last bytes and EOF, then destroys after the grace period', async () => {
      const { channel, peer, local } = open();
      const received: Buffer[] = [];
      peer.on('data', (chunk: Buffer) => received.push(chunk));
      const ended = new Promise<void>((resolve) => peer.on('end', () => resolve()));
      channel.endGracefully('421 Bye\r\n', 20);
      await ended;
      expect(Buffer.concat(received).toString('latin1')).toBe('421 Bye\r\n');
      await new Promise((resolve) => setTimeout(resolve, 40));
      expect(local.destroyed).toBe(true);
    });

    it('hands on no line after it', async () => {
      const { channel, peer, lines } = open();
      channel.endGracefully('421 Bye\r\n', 1000);
      peer.write('NOOP\r\n');
      await tick();
      expect(lines()).toEqual([]);
      channel.destroy();
    });
  });
});

describe('ControlChannel framing for the client side (issue 11)', () => {
  it("hands on an ABOR whose LF was lost as urgent data at once, and drops the LF if it comes after all", async () => {
    const { peer, events } = open({ framing: { completesTail: isUrgentAbortTail } });
    peer.write('ABOR\r');
    await tick();
    expect(events).toEqual([{ kind: 'line', text: 'ABOR\r\n' }]);
    peer.write('\nNOOP\r\n');
    await tick();
    expect(events.map((event) => (event.kind === 'line' ? event.text : event.kind))).toEqual(['ABOR\r\n', 'NOOP\r\n']);
  });

  it('keeps a later lone LF as a line: only the one right after the completed ABOR is dropped', async () => {
    const { peer, lines } = open({ framing: { completesTail: isUrgentAbortTail } });
    peer.write('ABOR\r');
    await tick();
    peer.write('NOOP\r\n');
    await tick();
    peer.write('\n');
    await tick();
    expect(lines()).toEqual(['ABOR\r\n', 'NOOP\r\n', '\n']);
  });

  it("with overlong: 'skip', answers each overlong line in its place and reads on", async () => {
    const { peer, events } = open({ maxLineBytes: 8, framing: { overlong: 'skip' } });
    peer.write('A\r\nBBBBBBBBBB\r\nC\r\n');
    await tick();
    expect(events.map((event) => (event.kind === 'line' ? event.text : event.kind))).toEqual(['A\r\n', 'too-long', 'C\r\n']);
  });
});

describe('ControlChannel: an ABOR read through a pause (issue 11, ABOR while the client is paused)', () => {
  const framing: ChannelFraming = { overlong: 'skip', urgentLine: isAbortLine };

  it.each(['replies-unread', 'pipeline'] as const)('paused for %s: later lines wait, an ABOR goes on at once, the rest after resume in order', async (reason) => {
    const { channel, peer, lines } = open({ framing });
    peer.write('NOOP\r\n');
    await tick();
    channel.pause(reason);
    peer.write('PWD\r\nSTAT\r\nABOR\r\nSYST\r\n');
    await tick();
    expect(lines()).toEqual(['NOOP\r\n', 'ABOR\r\n']);
    channel.resume(reason);
    await tick();
    expect(lines()).toEqual(['NOOP\r\n', 'ABOR\r\n', 'PWD\r\n', 'STAT\r\n', 'SYST\r\n']);
  });

  it(`reads at most ${READ_AHEAD_BYTES} bytes ahead, then stops reading; an ABOR past that waits`, async () => {
    const { channel, peer, local, lines } = open({ framing });
    channel.pause('replies-unread');
    const noops = 'NOOP\r\n'.repeat(Math.ceil((2 * READ_AHEAD_BYTES) / 6));
    for (let offset = 0; offset < noops.length; offset += 1024) {
      peer.write(noops.slice(offset, offset + 1024));
      await tick();
    }
    peer.write('ABOR\r\n');
    await tick();
    expect(lines()).toEqual([]);
    expect(local.isPaused()).toBe(true);
    expect(local.readableLength).toBeGreaterThan(0);
    channel.resume('replies-unread');
    for (let i = 0; i < 10 && lines().length < noops.length / 6 + 1; i++) await tick();
    expect(lines()).toHaveLength(noops.length / 6 + 1);
    expect(lines().at(-1)).toBe('ABOR\r\n');
  });

  it('without urgentLine (the upstream side) a pause stops reading at once, as before', async () => {
    const { channel, peer, local, lines } = open();
    channel.pause('replies-unread');
    peer.write('ABOR\r\n');
    await tick();
    expect(lines()).toEqual([]);
    expect(local.isPaused()).toBe(true);
  });
});
