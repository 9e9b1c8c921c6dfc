import { describe, expect, it } from 'vitest';
import { MAX_HELD_REPLY_BYTES, MAX_HELD_REPLY_LINES, ReplyRouter } from '../../../src/session/reply-router.js';
import type { Intent } from '../../../src/session/intents.js';
import { fakeLease, fakeScope } from './handlers/fake-scope.js';

function routeAll(lines: string[], head: Intent | undefined, scope = fakeScope()): { scope: ReturnType<typeof fakeScope>; codes: number[]; work: unknown[] } {
  const codes: number[] = [];
  const router = new ReplyRouter((code) => codes.push(code));
  const work = lines.map((line) => router.route(Buffer.from(line, 'latin1'), head, scope));
  return { scope, codes, work };
}

describe('ReplyRouter', () => {
  it('passes a plain reply unchanged and completes the head on its last line', () => {
    const { scope, codes } = routeAll(['250-first\r\n', ' middle\r\n', '250 done\r\n'], { kind: 'plain' });
    expect(scope.recorded.toClient).toEqual(['250-first\r\n', ' middle\r\n', '250 done\r\n']);
    expect(scope.recorded.completed).toEqual([3]);
    expect(codes).toEqual([250]);
  });

  it('passes preliminary replies without completing the head', () => {
    const { scope, codes } = routeAll(['150 Opening\r\n'], { kind: 'transfer' });
    expect(scope.recorded.toClient).toEqual(['150 Opening\r\n']);
    expect(scope.recorded.completed).toEqual([]);
    expect(codes).toEqual([150]);
  });

  it('a 213 to a STAT sent during the transfer passes at once and leaves the transfer awaiting its reply', () => {
    const scope = fakeScope();
    scope.statusAwaited = true;
    const { codes, work } = routeAll(['213-Status\r\n', ' 1024 bytes\r\n', '213 End\r\n'], { kind: 'transfer' }, scope);
    expect(scope.recorded.toClient).toEqual(['213-Status\r\n', ' 1024 bytes\r\n', '213 End\r\n']);
    expect(scope.recorded.completed).toEqual([]);
    expect(scope.statusAwaited).toBe(false);
    expect(work).toEqual([undefined, undefined, undefined]);
    expect(codes).toEqual([213]);
  });

  it.each([226, 250, 426, 451])('a %i while a STAT awaits its reply is the transfer\'s, not the STAT\'s', (code) => {
    const scope = fakeScope();
    scope.statusAwaited = true;
    routeAll([`${code} Transfer done\r\n`], { kind: 'transfer' }, scope);
    expect(scope.recorded.completed).toEqual([1]);
    expect(scope.statusAwaited).toBe(true);
  });

  it('passes a stray line that is no reply', () => {
    const { scope, codes } = routeAll(['hello\r\n'], { kind: 'plain' });
    expect(scope.recorded.toClient).toEqual(['hello\r\n']);
    expect(codes).toEqual([]);
  });

  it('filters the lines of a FEAT reply', () => {
    const { scope } = routeAll(['211-Features:\r\n', ' AUTH TLS\r\n', ' SIZE\r\n', '211 End\r\n'], { kind: 'feat' });
    expect(scope.recorded.toClient.join('')).toBe('211-Features:\r\n SIZE\r\n211 End\r\n');
  });

  it('holds a multi-line 227 until its last line and answers it once', async () => {
    const scope = fakeScope();
    scope.fakeData.lease = fakeLease(60007);
    const { work } = routeAll(
      ['227-Entering Passive Mode\r\n', '227 (10,0,11,251,234,96)\r\n'],
      { kind: 'passive', upstreamReply: 227, answerAs: 227 },
      scope,
    );
    expect(work[0]).toBeUndefined();
    await work[1];
    expect(scope.recorded.toClient).toEqual(['227 Entering Passive Mode (203,0,113,10,234,103).\r\n']);
    expect(scope.recorded.completed).toEqual([1]);
  });

  it("routes a transfer's final reply through the gate", () => {
    const { scope } = routeAll(['226 Transfer complete\r\n'], { kind: 'transfer' });
    expect(scope.recorded.toClient).toEqual(['226 Transfer complete\r\n']);
    expect(scope.recorded.completed).toEqual([1]);
  });

  it('passes a reply with no command awaiting it', () => {
    const { scope, codes } = routeAll(['421 Timeout\r\n'], undefined);
    expect(scope.recorded.toClient).toEqual(['421 Timeout\r\n']);
    expect(scope.recorded.completed).toEqual([]);
    expect(codes).toEqual([421]);
  });
});

describe('ReplyRouter: the held 227/229 is capped (issue 11, item 5)', () => {
  const ACTIVE: Intent = { kind: 'active', clientTarget: { host: '203.0.113.2', port: 50000 }, verb: 'PORT' };

  function hold(lines: string[]): { overflows: { lines: number; bytes: number }[]; toClient: string[] } {
    const overflows: { lines: number; bytes: number }[] = [];
    const router = new ReplyRouter(() => undefined, (held) => overflows.push(held));
    const scope = fakeScope();
    for (const line of lines) router.route(Buffer.from(line, 'latin1'), ACTIVE, scope);
    return { overflows, toClient: scope.recorded.toClient };
  }

  it.each([
    { title: `${MAX_HELD_REPLY_LINES} lines pass`, lines: [`227-a\r\n`, ...Array.from({ length: MAX_HELD_REPLY_LINES - 2 }, () => ' x\r\n'), '227 (10,0,11,251,195,80)\r\n'], overflow: false },
    { title: `${MAX_HELD_REPLY_LINES + 1} lines overflow`, lines: ['227-a\r\n', ...Array.from({ length: MAX_HELD_REPLY_LINES }, () => ' x\r\n')], overflow: true },
    { title: `over ${MAX_HELD_REPLY_BYTES} bytes overflow`, lines: ['227-a\r\n', ...Array.from({ length: 17 }, () => ` ${'y'.repeat(1000)}\r\n`)], overflow: true },
  ])('$title', ({ lines, overflow }) => {
    const result = hold(lines);
    expect(result.overflows.length).toBe(overflow ? 1 : 0);
    expect(result.toClient.some((line) => line.includes(' x') || line.includes('yyy'))).toBe(false);
  });
});
