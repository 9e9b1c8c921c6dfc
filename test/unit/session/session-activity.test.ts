/** What the live view reads of a session: the user the server accepted, and the state. */
import { describe, expect, it } from 'vitest';
import type { RelayProgress } from '../../../src/data/data-relay.js';
import type { Intent } from '../../../src/session/intents.js';
import { type ActivitySources, SessionActivity } from '../../../src/session/session-activity.js';
import { command } from './handlers/fake-scope.js';

interface FakeSources extends ActivitySources {
  attached: boolean;
  quiet: boolean;
  closing: boolean;
  pending: Intent | undefined;
  busy: boolean;
  progress: RelayProgress | undefined;
}

function fakeSources(): FakeSources {
  const sources: FakeSources = {
    site: 'default',
    client: { host: '127.0.0.1', port: 40000 },
    attached: true,
    quiet: true,
    closing: false,
    pending: undefined,
    busy: false,
    progress: undefined,
    upstreamAttached: () => sources.attached,
    isQuiet: () => sources.quiet,
    isClosing: () => sources.closing,
    head: () => sources.pending,
    dataBusy: () => sources.busy,
    transferProgress: () => sources.progress,
  };
  return sources;
}

const user = (name: string): Intent => ({ kind: 'plain', user: Buffer.from(name, 'latin1') });
const plain: Intent = { kind: 'plain' };
const greeting: Intent = { kind: 'greeting' };

/** Each reply: its code and the intent at the head when it came (what it answers). */
type Exchange = ReadonlyArray<readonly [number, Intent]>;

const LOGINS: ReadonlyArray<{ title: string; replies: Exchange; expected: string | undefined }> = [
  { title: 'no login yet', replies: [[220, greeting], [331, user('scott')]], expected: undefined },
  { title: 'USER, 331, PASS, 230', replies: [[220, greeting], [331, user('scott')], [230, plain]], expected: 'scott' },
  { title: 'USER answered 230 at once (no password)', replies: [[220, greeting], [230, user('anonymous')]], expected: 'anonymous' },
  { title: 'USER, 332, ACCT, 230', replies: [[220, greeting], [332, user('acct')], [230, plain]], expected: 'acct' },
  {
    title: 'a failed PASS, then another USER',
    replies: [[220, greeting], [331, user('mallory')], [530, plain], [331, user('scott')], [230, plain]],
    expected: 'scott',
  },
  {
    // USER a / PASS / USER b pipelined: the 230 answers the PASS of `a`, whatever came after it.
    title: 'a USER pipelined behind the PASS does not rename the login',
    replies: [[220, greeting], [331, user('alice')], [230, plain], [331, user('bob')]],
    expected: 'alice',
  },
  { title: 'USER refused (530) and a 230 to something else', replies: [[220, greeting], [530, user('x')], [230, plain]], expected: undefined },
  { title: 'preliminary replies change nothing', replies: [[220, greeting], [150, user('y')]], expected: undefined },
];

describe('SessionActivity: the user', () => {
  it.each(LOGINS)('$title', ({ replies, expected }) => {
    const activity = new SessionActivity(fakeSources());
    for (const [code, head] of replies) activity.replied(code, head);
    expect(activity.read().user?.toString('latin1')).toBe(expected);
  });
});

describe('SessionActivity: the state', () => {
  const greeted = (sources: FakeSources): SessionActivity => {
    const activity = new SessionActivity(sources);
    activity.replied(220, greeting);
    return activity;
  };
  const loggedIn = (sources: FakeSources): SessionActivity => {
    const activity = greeted(sources);
    activity.replied(230, user('scott'));
    return activity;
  };

  it('connecting, then greeting, then login, then idle', () => {
    const sources = fakeSources();
    sources.attached = false;
    const activity = new SessionActivity(sources);
    expect(activity.read().state).toBe('connecting');
    sources.attached = true;
    expect(activity.read().state).toBe('greeting');
    activity.replied(220, greeting);
    expect(activity.read().state).toBe('login');
    activity.replied(230, user('scott'));
    expect(activity.read().state).toBe('idle');
  });

  it('command while a reply is owed, transfer while data flows or a transfer awaits its reply', () => {
    const sources = fakeSources();
    const activity = loggedIn(sources);
    sources.quiet = false;
    sources.pending = plain;
    expect(activity.read().state).toBe('command');
    const retr = command('RETR big.bin');
    sources.pending = { kind: 'transfer', command: retr };
    expect(activity.read()).toMatchObject({ state: 'transfer', transferCommand: { verb: 'RETR', argument: Buffer.from('big.bin') } });
    sources.pending = undefined;
    sources.quiet = true;
    sources.busy = true;
    sources.progress = { startedAtMs: 1, bytesToClient: 10, bytesToUpstream: 0 };
    expect(activity.read()).toMatchObject({ state: 'transfer', transferCommand: undefined, progress: { bytesToClient: 10 } });
  });

  it('closing wins over everything', () => {
    const sources = fakeSources();
    const activity = loggedIn(sources);
    sources.busy = true;
    sources.closing = true;
    expect(activity.read().state).toBe('closing');
  });
});
