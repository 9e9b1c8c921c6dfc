import { describe, expect, it, vi } from 'vitest';
import {
  NEGATIVE_REPLY_FLUSH_MS,
  STALLED_TRANSFER_REPLY,
  answerTransferReply,
  handleAbort,
  handleTransfer,
} from '../../../../src/session/handlers/transfer.js';
import { parseCommand } from '../../../../src/protocol/command.js';
import { readUrgentAbort } from '../../../../src/protocol/urgent-abort.js';
import { FakeRelay, command, fakeScope } from './fake-scope.js';

const PLAN = { clientTarget: { host: '203.0.113.2', port: 50000 }, upstreamPort: 60000 };

/** Lets the promise callbacks queued so far run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe('a transfer command', () => {
  it('passive (no active plan): forwarded at once with a transfer intent', () => {
    const scope = fakeScope();
    const retr = command('RETR a.txt');
    handleTransfer(retr, scope);
    // The intent carries the command: the live view shows it while the transfer runs.
    expect(scope.recorded.forwarded).toEqual([{ line: 'RETR a.txt\r\n', intent: { kind: 'transfer', command: retr } }]);
    expect(scope.recorded.holds).toBe(0);
  });

  it('active: later commands wait, the client is reached, then the command goes upstream', async () => {
    const scope = fakeScope();
    scope.fakeData.activePlan = PLAN;
    const stor = command('STOR b.bin');
    handleTransfer(stor, scope);
    expect(scope.recorded.holds).toBe(1);
    expect(scope.fakeData.calls).toEqual(['connectActive 203.0.113.2:50000']);
    expect(scope.recorded.forwarded).toEqual([{ line: 'STOR b.bin\r\n', intent: { kind: 'transfer', command: stor } }]);
    await settle();
    expect(scope.recorded.releases).toBe(1);
    expect(scope.recorded.local).toEqual([]);
  });

  it('active, client unreachable: 425, nothing upstream (a STOR would truncate the file), commands released', async () => {
    const scope = fakeScope();
    scope.fakeData.activePlan = PLAN;
    scope.fakeData.dialResult = { ok: false, error: 'connect ECONNREFUSED' };
    handleTransfer(command('STOR b.bin'), scope);
    await settle();
    expect(scope.recorded.forwarded).toEqual([]);
    expect(scope.recorded.local).toEqual(["425 Can't open data connection to your PORT/EPRT address.\r\n"]);
    expect(scope.recorded.releases).toBe(1);
    expect(scope.recorded.logs.map((log) => log.msg)).toEqual(['active data connection to the client failed']);
  });

  it('active, session closed meanwhile: no 425', async () => {
    const scope = fakeScope();
    scope.fakeData.activePlan = PLAN;
    scope.fakeData.dialResult = { ok: false, error: 'session closed' };
    scope.closed = true;
    handleTransfer(command('RETR a'), scope);
    await settle();
    expect(scope.recorded.local).toEqual([]);
  });

  it('uses the active plan once: the next transfer is forwarded at once', async () => {
    const scope = fakeScope();
    scope.fakeData.activePlan = PLAN;
    handleTransfer(command('LIST'), scope);
    handleTransfer(command('NLST'), scope);
    expect(scope.fakeData.calls).toEqual(['connectActive 203.0.113.2:50000']);
    expect(scope.recorded.forwarded.map((entry) => entry.line)).toEqual(['LIST\r\n', 'NLST\r\n']);
  });
});

describe('the transfer gate', () => {
  const TRANSFER_COMPLETE = Buffer.from('226 Transfer complete\r\n');

  it('with no relay, the final reply goes out at once', () => {
    const scope = fakeScope();
    expect(answerTransferReply(TRANSFER_COMPLETE, 226, scope)).toBeUndefined();
    expect(scope.recorded.toClient).toEqual(['226 Transfer complete\r\n']);
    expect(scope.recorded.completed).toEqual([1]);
  });

  it('a positive reply waits until the relay has flushed to the client', async () => {
    const scope = fakeScope();
    const relay = new FakeRelay();
    scope.fakeData.currentRelay = relay;
    const work = answerTransferReply(TRANSFER_COMPLETE, 226, scope);
    await settle();
    expect(scope.recorded.toClient).toEqual([]);
    relay.flush();
    await work;
    expect(scope.recorded.toClient).toEqual(['226 Transfer complete\r\n']);
    expect(relay.isClosed).toBe(false);
  });

  it('a negative reply gives the relay its flush time, then closes it and goes out', async () => {
    vi.useFakeTimers();
    try {
      const scope = fakeScope();
      const relay = new FakeRelay();
      scope.fakeData.currentRelay = relay;
      const work = answerTransferReply(Buffer.from('426 Aborted\r\n'), 426, scope);
      await vi.advanceTimersByTimeAsync(NEGATIVE_REPLY_FLUSH_MS - 1);
      expect(scope.recorded.toClient).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      await work;
      expect(relay.closedWith).toBe('aborted');
      expect(scope.recorded.toClient).toEqual(['426 Aborted\r\n']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('waits for a data connection being set up before it looks for the relay', async () => {
    const scope = fakeScope();
    let setupDone: () => void = () => undefined;
    scope.fakeData.settling = new Promise<void>((resolve) => {
      setupDone = resolve;
    });
    const work = answerTransferReply(TRANSFER_COMPLETE, 226, scope);
    const relay = new FakeRelay();
    scope.fakeData.currentRelay = relay;
    setupDone();
    await settle();
    expect(scope.recorded.toClient).toEqual([]);
    relay.flush();
    await work;
    expect(scope.recorded.toClient).toEqual(['226 Transfer complete\r\n']);
  });

  it('answers 426 in place of a 226 when the stall timeout closed the relay first', () => {
    const scope = fakeScope();
    scope.fakeData.stalled = true;
    answerTransferReply(TRANSFER_COMPLETE, 226, scope);
    expect(scope.recorded.toClient).toEqual([STALLED_TRANSFER_REPLY]);
    expect(scope.recorded.logs.map((log) => log.msg)).toEqual(['transfer reply replaced: the data connection stalled']);
  });

  it('answers 426 in place of a 226 that waited for a relay the stall timeout then closed', async () => {
    const scope = fakeScope();
    const relay = new FakeRelay();
    scope.fakeData.currentRelay = relay;
    const work = answerTransferReply(TRANSFER_COMPLETE, 226, scope);
    scope.fakeData.stalled = true;
    relay.close('complete');
    await work;
    expect(scope.recorded.toClient).toEqual([STALLED_TRANSFER_REPLY]);
  });

  it("passes the server's own negative reply after a stall, and uses the stall up", () => {
    const scope = fakeScope();
    scope.fakeData.stalled = true;
    answerTransferReply(Buffer.from('426 Connection reset\r\n'), 426, scope);
    answerTransferReply(TRANSFER_COMPLETE, 226, scope);
    expect(scope.recorded.toClient).toEqual(['426 Connection reset\r\n', '226 Transfer complete\r\n']);
  });

  it('sends nothing when the session closed while it waited', async () => {
    const scope = fakeScope();
    const relay = new FakeRelay();
    scope.fakeData.currentRelay = relay;
    const work = answerTransferReply(TRANSFER_COMPLETE, 226, scope);
    scope.closed = true;
    relay.flush();
    await work;
    expect(scope.recorded.toClient).toEqual([]);
  });
});

describe('kernel mode (issue 14): the final reply ends the transfer', () => {
  it.each([
    { title: 'a positive reply, no relay', code: 226 },
    { title: 'a negative reply, no relay', code: 550 },
  ])('$title: reported once to the data connector as it goes out', ({ code }) => {
    const scope = fakeScope({ mode: 'kernel' });
    expect(answerTransferReply(Buffer.from(`${code} done\r\n`), code, scope)).toBeUndefined();
    expect(scope.recorded.toClient).toEqual([`${code} done\r\n`]);
    expect(scope.fakeData.transfersReplied).toBe(1);
  });

  it('not before the reply has gone out', () => {
    const scope = fakeScope({ mode: 'kernel' });
    scope.fakeData.settling = new Promise(() => undefined);
    void answerTransferReply(Buffer.from('226 done\r\n'), 226, scope);
    expect(scope.fakeData.transfersReplied).toBe(0);
  });
});

describe('ABOR (issue 11, item 3)', () => {
  it.each([
    ['plain', Buffer.from('ABOR\r\n')],
    ['behind Telnet IP and Synch, inline', Buffer.from([0xff, 0xf4, 0xff, 0xf2, ...Buffer.from('ABOR\r\n')])],
    ['its urgent IAC lost (IAC IP DM ABOR)', Buffer.from([0xff, 0xf4, 0xf2, ...Buffer.from('abor\r\n')])],
  ])('%s: goes upstream at once as a plain ABOR, and the running relay is closed', (_title, line) => {
    const scope = fakeScope();
    const parsed = parseCommand(line);
    const command = parsed.ok ? parsed.value : readUrgentAbort(line);
    if (command === undefined) throw new Error('neither a command nor an urgent ABOR');
    handleAbort(command, scope);
    expect(scope.recorded.forwarded).toEqual([{ line: 'ABOR\r\n', intent: { kind: 'plain' } }]);
    expect(scope.fakeData.calls).toEqual(['abortTransfers']);
  });
});

describe('a transfer whose PROT P data connection was refused', () => {
  it.each([226, 426])('answers 522 in place of the server\'s %i, once', (code) => {
    const scope = fakeScope();
    scope.fakeData.tlsRefusal = 'session reuse required';
    void answerTransferReply(Buffer.from(`${code} whatever\r\n`), code, scope);
    expect(scope.recorded.toClient).toEqual(['522 SSL connection failed: session reuse required; resume the TLS session of the control connection.\r\n']);
    void answerTransferReply(Buffer.from('226 next\r\n'), 226, scope);
    expect(scope.recorded.toClient.at(-1)).toBe('226 next\r\n');
  });
});
