/** The live view's document: peer bytes as safe text, order, bounds, rates; never a password. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LiveView,
  MAX_TEXT_CHARS,
  RateWindow,
  formatClient,
  formatLiveJson,
  renderPeerText,
} from '../../../src/observability/live-view.js';
import type { Intent } from '../../../src/session/intents.js';
import { SessionActivity } from '../../../src/session/session-activity.js';
import { SessionRegistry, type SessionSnapshot } from '../../../src/session/session-registry.js';

const bytes = (...values: number[]): Buffer => Buffer.from(values);

/** Controls, bidi and separator characters: what must never reach a screen unescaped. */
function isHidden(code: number): boolean {
  const ranges: ReadonlyArray<readonly [number, number]> = [
    [0x00, 0x1f],
    [0x7f, 0x9f],
    [0x200b, 0x200f],
    [0x2028, 0x202e],
    [0x2060, 0x2069],
    [0x061c, 0x061c],
    [0xfeff, 0xfeff],
  ];
  return ranges.some(([low, high]) => code >= low && code <= high);
}

const TEXTS: ReadonlyArray<{ title: string; input: Buffer; expected: string }> = [
  { title: 'ASCII', input: Buffer.from('scott'), expected: 'scott' },
  { title: 'UTF-8', input: Buffer.from('jürgen-日本', 'utf8'), expected: 'jürgen-日本' },
  { title: 'invalid UTF-8 (Shift_JIS) becomes U+FFFD', input: bytes(0x83, 0x65, 0x83, 0x58, 0x83, 0x67), expected: '\ufffde\ufffdX\ufffdg' },
  { title: 'CR, LF, TAB, NUL, ESC', input: Buffer.from('a\r\nb\tc\0d\x1b[31m'), expected: 'a\\x0d\\x0ab\\x09c\\x00d\\x1b[31m' },
  { title: 'DEL and a C1 control', input: Buffer.from('a\x7fb\u0085c', 'utf8'), expected: 'a\\x7fb\\x85c' },
  { title: 'a right-to-left override', input: Buffer.from('evil\u202efdp.exe', 'utf8'), expected: 'evil\\u{202e}fdp.exe' },
  { title: 'line separator, BOM, zero width space', input: Buffer.from('a\u2028b\ufeffc\u200bd', 'utf8'), expected: 'a\\u{2028}b\\u{feff}c\\u{200b}d' },
  { title: 'a backslash is doubled, so an escape cannot be forged', input: Buffer.from('a\\x0ab'), expected: 'a\\\\x0ab' },
  { title: 'markup stays text (the page uses textContent)', input: Buffer.from('<script>x</script>'), expected: '<script>x</script>' },
  { title: 'empty', input: bytes(), expected: '' },
];

describe('renderPeerText', () => {
  it.each(TEXTS)('$title', ({ input, expected }) => {
    expect(renderPeerText(input)).toBe(expected);
  });

  it(`cuts after ${MAX_TEXT_CHARS} characters, marked with …`, () => {
    expect(renderPeerText(Buffer.from('x'.repeat(MAX_TEXT_CHARS)))).toBe('x'.repeat(MAX_TEXT_CHARS));
    expect(renderPeerText(Buffer.from('x'.repeat(MAX_TEXT_CHARS + 1)))).toBe(`${'x'.repeat(MAX_TEXT_CHARS)}…`);
    expect(renderPeerText(Buffer.from('abcdef'), 3)).toBe('abc…');
  });

  it('any bytes: no control, bidi or separator character survives, and the length is bounded', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (input) => {
        const text = renderPeerText(input);
        expect([...text].filter((char) => isHidden(char.codePointAt(0) ?? 0))).toEqual([]);
        // Each character becomes at most 8 (`\u{202e}`), plus the … mark.
        expect(text.length).toBeLessThanOrEqual(MAX_TEXT_CHARS * 8 + 1);
      }),
    );
  });
});

describe('formatClient', () => {
  it.each([
    ['127.0.0.1', 2121, '127.0.0.1:2121'],
    ['::1', 2121, '[::1]:2121'],
    ['2001:db8::7', 40000, '[2001:db8::7]:40000'],
  ])('%s %d -> %s', (host, port, expected) => {
    expect(formatClient(host, port)).toBe(expected);
  });
});

describe('RateWindow', () => {
  it('from the start while younger than the window, then over the last window', () => {
    const window = new RateWindow(1000, 5000);
    expect(window.record(1000, 0)).toBe(0);
    expect(window.record(2000, 1000)).toBe(1000); // 1000 B in 1 s since the start
    expect(window.record(3000, 5000)).toBe(2500);
    // 8 s in: the sample of 3000 ms is the newest at least 5 s old; 10000 B moved since.
    expect(window.record(9000, 15000)).toBe(Math.round((10000 * 1000) / 6000));
    // A stalled transfer: the rate falls to 0 once the window holds no progress.
    expect(window.record(14500, 15000)).toBe(0);
  });

  it('keeps a bounded number of samples however often it is read', () => {
    const window = new RateWindow(0, 5000);
    for (let at = 1; at <= 10_000; at++) window.record(at / 10, at);
    expect(window.record(1001, 10_010)).toBeGreaterThan(0);
    expect(JSON.stringify(window).length).toBeLessThan(10_000);
  });
});

function snapshot(id: string, startedAt: number, overrides: Partial<SessionSnapshot> = {}): SessionSnapshot {
  return {
    id,
    site: 'default',
    client: { host: '127.0.0.1', port: 40000 },
    startedAt,
    state: 'idle',
    user: undefined,
    transferCommand: undefined,
    progress: undefined,
    ...overrides,
  };
}

describe('LiveView', () => {
  const clock = { wall: Date.UTC(2026, 0, 1, 12, 0, 10), monotonic: 20_000 };

  it('sorts oldest first (ids of one millisecond by counter) and lists at most `limit`, counting the rest', () => {
    const start = Date.UTC(2026, 0, 1, 12, 0, 0);
    const sessions = [snapshot('a', start + 5), snapshot('10', start), snapshot('z', start), snapshot('b', start + 1), snapshot('9', start)];
    const view = new LiveView({ snapshot: () => [...sessions] }, 3);
    const document = view.render(clock);
    expect(document.sessions.map((session) => session.id)).toEqual(['9', 'z', '10']);
    expect(document).toMatchObject({ total: 5, limit: 3, omitted: 2, generatedAt: '2026-01-01T12:00:10.000Z' });
    expect(document.sessions[0]).toMatchObject({ startedAt: '2026-01-01T12:00:00.000Z', seconds: 10, client: '127.0.0.1:40000', user: null });
  });

  it('shows the transfer command and the data connection with a rate from one request to the next', () => {
    const progress = { startedAtMs: 18_000, bytesToClient: 4000, bytesToUpstream: 0 };
    const session = snapshot('1', clock.wall - 5000, {
      state: 'transfer',
      user: Buffer.from('scott'),
      transferCommand: { verb: 'RETR', argument: Buffer.from('dir/big\n.bin') },
      progress,
    });
    let current = session;
    const view = new LiveView({ snapshot: () => [current] });
    const first = view.render(clock).sessions[0];
    expect(first).toMatchObject({
      user: 'scott',
      state: 'transfer',
      transfer: { verb: 'RETR', argument: 'dir/big\\x0a.bin' },
      data: { bytes: 4000, bytesToClient: 4000, bytesToServer: 0, bytesPerSecond: 2000, seconds: 2 },
    });
    current = { ...session, progress: { ...progress, bytesToClient: 10_000 } };
    const second = view.render({ wall: clock.wall + 1000, monotonic: clock.monotonic + 1000 }).sessions[0];
    expect(second?.data).toMatchObject({ bytes: 10_000, bytesPerSecond: Math.round(10_000 / 3) });
  });

  it('renders JSON that keeps <, > and & inert', () => {
    const view = new LiveView({ snapshot: () => [snapshot('1', clock.wall, { user: Buffer.from('</script><b>&') })] });
    const json = formatLiveJson(view.render(clock));
    expect(json).not.toMatch(/[<>&]/);
    expect(JSON.parse(json)).toMatchObject({ sessions: [{ user: '</script><b>&' }] });
  });
});

describe('the live view never shows a password', () => {
  it('a login through a real SessionActivity: the USER name shows, nothing of PASS or ACCT', () => {
    const registry = new SessionRegistry();
    let head: Intent | undefined = { kind: 'greeting' };
    const activity = new SessionActivity({
      site: 'default',
      client: { host: '127.0.0.1', port: 40000 },
      upstreamAttached: () => true,
      isQuiet: () => true,
      isClosing: () => false,
      head: () => head,
      dataBusy: () => false,
      transferProgress: () => undefined,
    });
    const live = { id: '1', activity };
    registry.add(live);
    activity.replied(220, head);
    head = { kind: 'plain', user: Buffer.from('scott') };
    activity.replied(331, head);
    head = { kind: 'plain' }; // PASS s3cr3t-tiger
    activity.replied(230, head);
    head = { kind: 'plain' }; // ACCT acct-secret
    activity.replied(202, head);
    head = undefined;
    const json = formatLiveJson(new LiveView(registry).render());
    expect(JSON.parse(json)).toMatchObject({ total: 1, sessions: [{ id: '1', user: 'scott', state: 'idle' }] });
    expect(json).not.toMatch(/s3cr3t|tiger|acct-secret|PASS/i);
    registry.remove(live);
    expect(new LiveView(registry).render().total).toBe(0);
  });
});
