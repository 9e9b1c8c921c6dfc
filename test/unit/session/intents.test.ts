import { describe, expect, it } from 'vitest';
import { IntentQueue } from '../../../src/session/intents.js';

const reply = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('IntentQueue', () => {
  it('starts awaiting the greeting', () => {
    const queue = new IntentQueue();
    expect(queue.head).toEqual({ kind: 'greeting' });
    expect(queue.length).toBe(1);
  });

  it("sends ftpmasq's own reply at once only when nothing is owed", () => {
    const queue = new IntentQueue();
    expect(queue.queueLocal(reply('534 no\r\n'))).toBe(false);
    const { completed, due } = queue.completeHead();
    expect(completed).toEqual({ kind: 'greeting' });
    expect(due).toEqual([{ kind: 'local', reply: reply('534 no\r\n'), closes: false }]);
    expect(queue.length).toBe(0);
    expect(queue.queueLocal(reply('502 no\r\n'))).toBe(true);
    expect(queue.length).toBe(0);
  });

  it('keeps replies in the order of the commands: locals wait behind the forwarded command before them', () => {
    const queue = new IntentQueue();
    queue.completeHead();
    queue.push({ kind: 'plain' });
    queue.queueLocal(reply('534 a\r\n'));
    queue.push({ kind: 'transfer' });
    queue.queueLocal(reply('421 bye\r\n'), { closes: true });
    expect(queue.completeHead().due.map((due) => due.reply.toString())).toEqual(['534 a\r\n']);
    expect(queue.head).toEqual({ kind: 'transfer' });
    expect(queue.completeHead().due).toEqual([{ kind: 'local', reply: reply('421 bye\r\n'), closes: true }]);
  });

  it('knows when a PASV sent for a PORT awaits its reply', () => {
    const queue = new IntentQueue();
    expect(queue.hasActive()).toBe(false);
    queue.push({ kind: 'active', clientTarget: { host: '127.0.0.1', port: 5000 }, verb: 'PORT' });
    expect(queue.hasActive()).toBe(true);
  });

  it('takes a STAT right behind the transfer at the head, and nothing else', () => {
    const queue = new IntentQueue();
    queue.completeHead();
    expect(queue.hasTransfer()).toBe(false);
    queue.push({ kind: 'transfer' });
    expect(queue.completeStatusBehindTransfer()).toBe(false);
    queue.push({ kind: 'status' });
    queue.push({ kind: 'plain' });
    expect(queue.hasTransfer()).toBe(true);
    expect(queue.completeStatusBehindTransfer()).toBe(true);
    expect(queue.head).toEqual({ kind: 'transfer' });
    expect(queue.length).toBe(2);
    expect(queue.completeStatusBehindTransfer()).toBe(false);
  });
});
