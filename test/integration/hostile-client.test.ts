/**
 * A client that pipelines far more commands than it reads replies for: ftpmasq stops reading
 * it (more than 256 commands awaiting replies) and resumes as replies go out, so the queue stays
 * bounded and every reply still arrives, in order.
 */
import { describe, expect, it } from 'vitest';
import { delay } from '../helpers/raw-ftp-client.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';

const { startProxy, scripted, openLoggedIn } = createProxyHarness({ passivePorts: '23900-23909' });

describe('a client pipelining commands ftpmasq answers itself', () => {
  it('gets all 2,000 answers in order behind one slow upstream reply', async () => {
    const count = 2000;
    let answerNoop: () => void = () => undefined;
    const noopAnswered = new Promise<void>((resolve) => (answerNoop = resolve));
    const upstream = await scripted(async (connection) => {
      await connection.greetAndLogin();
      await connection.expectCommand('NOOP');
      await noopAnswered;
      connection.write('200 NOOP at last\r\n');
      await connection.expectCommand('QUIT');
      connection.write('221 bye\r\n');
      connection.end();
    });
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    client.send('NOOP', ...Array.from({ length: count }, () => 'AUTH TLS'));
    await delay(200);
    // Nothing may overtake the NOOP's reply, which the upstream still holds back.
    expect(client.unreadReplies).toBe(0);
    answerNoop();
    const replies = await client.readReplies(count + 1, 10_000);
    expect(replies[0]?.code).toBe(200);
    expect(replies.slice(1).every((reply) => reply.code === 534)).toBe(true);
    expect(replies).toHaveLength(count + 1);
    expect((await client.command('QUIT')).code).toBe(221);
  });
});
