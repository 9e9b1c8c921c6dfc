/** The session counts the primary of `workers: N` keeps for every worker, and a worker's side of the messages. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ADMISSION_REPLY_TIMEOUT_MS, AdmissionClient, type PrimaryChannel, UNANSWERED } from '../../../src/daemon/admission-client.js';
import { AdmissionCounter, answerAdmission } from '../../../src/daemon/admission-counter.js';
import type { AdmissionClaimMessage, AdmissionReleaseMessage, AdmissionVerdictMessage } from '../../../src/daemon/worker-messages.js';
import { CLIENT_SESSION_LIMIT_REPLY, SESSION_LIMIT_REPLY } from '../../../src/site/admission.js';

const PER_CLIENT_ONE = { maxSessions: 3, maxSessionsPerClient: 1 };
const THREE = { maxSessions: 3, maxSessionsPerClient: undefined };

describe('AdmissionCounter', () => {
  it('maxSessionsPerClient 1 holds across owners: the second session of an address is refused whichever worker asks', () => {
    const counter = new AdmissionCounter();
    expect(counter.claim(1, 'a', '10.0.0.7', PER_CLIENT_ONE)).toEqual({ kind: 'admit' });
    expect(counter.claim(2, 'a', '10.0.0.7', PER_CLIENT_ONE)).toEqual({ kind: 'refuse', reason: 'client_session_limit', reply: CLIENT_SESSION_LIMIT_REPLY, limit: 1 });
    expect(counter.claim(1, 'a', '10.0.0.7', PER_CLIENT_ONE)).toMatchObject({ reason: 'client_session_limit' });
    // Another address, another site: their own counts.
    expect(counter.claim(2, 'a', '10.0.0.8', PER_CLIENT_ONE)).toEqual({ kind: 'admit' });
    expect(counter.claim(2, 'b', '10.0.0.7', PER_CLIENT_ONE)).toEqual({ kind: 'admit' });
  });

  it('maxSessions holds across owners, and a release admits the next one', () => {
    const counter = new AdmissionCounter();
    for (const owner of [1, 2, 1]) expect(counter.claim(owner, 'a', `10.0.0.${owner}`, THREE)).toEqual({ kind: 'admit' });
    expect(counter.claim(2, 'a', '10.0.0.9', THREE)).toEqual({ kind: 'refuse', reason: 'session_limit', reply: SESSION_LIMIT_REPLY, limit: 3 });
    counter.release(2, 'a', '10.0.0.2');
    expect(counter.sessions('a')).toBe(2);
    expect(counter.claim(1, 'a', '10.0.0.9', THREE)).toEqual({ kind: 'admit' });
  });

  it('a release nobody claimed, or claimed by another owner, changes nothing', () => {
    const counter = new AdmissionCounter();
    counter.claim(1, 'a', '10.0.0.7', THREE);
    counter.release(2, 'a', '10.0.0.7');
    counter.release(1, 'a', '10.0.0.8');
    counter.release(1, 'b', '10.0.0.7');
    expect(counter.sessions('a')).toBe(1);
    counter.release(1, 'a', '10.0.0.7');
    counter.release(1, 'a', '10.0.0.7');
    expect(counter.sessions('a')).toBe(0);
    expect(counter.sessionsFrom('a', '10.0.0.7')).toBe(0);
  });

  it("drops a dead owner's sessions, and only its own", () => {
    const counter = new AdmissionCounter();
    counter.claim(1, 'a', '10.0.0.7', THREE);
    counter.claim(1, 'a', '10.0.0.7', THREE);
    counter.claim(1, 'b', '10.0.0.8', THREE);
    counter.claim(2, 'a', '10.0.0.7', THREE);
    expect(counter.dropOwner(1)).toBe(3);
    expect(counter.sessions('a')).toBe(1);
    expect(counter.sessionsFrom('a', '10.0.0.7')).toBe(1);
    expect(counter.sessions('b')).toBe(0);
    // A late release of the dead owner's session must not take the survivor's count.
    counter.release(1, 'a', '10.0.0.7');
    expect(counter.sessions('a')).toBe(1);
    expect(counter.dropOwner(1)).toBe(0);
  });
});

describe('answerAdmission', () => {
  it('answers a claim with its id, counts a release, ignores other messages', () => {
    const counter = new AdmissionCounter();
    const replies: AdmissionVerdictMessage[] = [];
    const claim: AdmissionClaimMessage = { ftpmasq: 'admission-claim', id: 7, site: 'a', client: '10.0.0.7', maxSessions: 5, maxSessionsPerClient: 1 };
    expect(answerAdmission(counter, 1, claim, (reply) => replies.push(reply))).toBe(true);
    expect(answerAdmission(counter, 2, { ...claim, id: 8 }, (reply) => replies.push(reply))).toBe(true);
    expect(replies).toEqual([
      { ftpmasq: 'admission-verdict', id: 7, verdict: 'admit' },
      { ftpmasq: 'admission-verdict', id: 8, verdict: 'client_session_limit' },
    ]);
    expect(answerAdmission(counter, 1, { ftpmasq: 'admission-release', site: 'a', client: '10.0.0.7' }, () => undefined)).toBe(true);
    expect(counter.sessions('a')).toBe(0);
    for (const other of [{ ftpmasq: 'health', ready: true, detail: '' }, { ...claim, id: -1 }, { ...claim, maxSessions: '5' }, null, 'admission-claim']) {
      expect(answerAdmission(counter, 1, other, () => expect.fail('answered a message that is no claim'))).toBe(false);
    }
  });
});

/** A channel whose primary answers only when the test says so. */
function fakeChannel(): { channel: PrimaryChannel; sent: Array<AdmissionClaimMessage | AdmissionReleaseMessage>; deliver(message: unknown): void; open: boolean } {
  const listeners: Array<(message: unknown) => void> = [];
  const fake = {
    sent: [] as Array<AdmissionClaimMessage | AdmissionReleaseMessage>,
    open: true,
    deliver: (message: unknown) => {
      for (const listener of listeners) listener(message);
    },
    channel: {
      send: (message: AdmissionClaimMessage | AdmissionReleaseMessage) => {
        if (!fake.open) return false;
        fake.sent.push(message);
        return true;
      },
      onMessage: (listener: (message: unknown) => void) => listeners.push(listener),
    },
  };
  return fake;
}

describe('AdmissionClient', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("turns the primary's verdicts into decisions, each by its own id", async () => {
    const fake = fakeChannel();
    const client = new AdmissionClient(fake.channel);
    const first = client.claim('a', '10.0.0.7', PER_CLIENT_ONE);
    const second = client.claim('a', '10.0.0.7', PER_CLIENT_ONE);
    expect(fake.sent).toEqual([
      { ftpmasq: 'admission-claim', id: 1, site: 'a', client: '10.0.0.7', maxSessions: 3, maxSessionsPerClient: 1 },
      { ftpmasq: 'admission-claim', id: 2, site: 'a', client: '10.0.0.7', maxSessions: 3, maxSessionsPerClient: 1 },
    ]);
    fake.deliver({ ftpmasq: 'admission-verdict', id: 2, verdict: 'client_session_limit' });
    fake.deliver({ ftpmasq: 'admission-verdict', id: 1, verdict: 'admit' });
    expect(await first).toEqual({ kind: 'admit' });
    expect(await second).toEqual({ kind: 'refuse', reason: 'client_session_limit', reply: CLIENT_SESSION_LIMIT_REPLY, limit: 1 });
    expect(client.waiting).toBe(0);
  });

  it('a lost verdict refuses after the timeout; an admit that comes later is released at once', async () => {
    vi.useFakeTimers();
    const fake = fakeChannel();
    const client = new AdmissionClient(fake.channel);
    const claim = client.claim('a', '10.0.0.7', THREE);
    await vi.advanceTimersByTimeAsync(ADMISSION_REPLY_TIMEOUT_MS);
    expect(await claim).toEqual(UNANSWERED);
    expect(UNANSWERED).toMatchObject({ reason: 'admission_unanswered', reply: expect.stringMatching(/^421 /) });
    expect(client.waiting).toBe(0);
    fake.deliver({ ftpmasq: 'admission-verdict', id: 1, verdict: 'admit' });
    expect(fake.sent.at(-1)).toEqual({ ftpmasq: 'admission-release', site: 'a', client: '10.0.0.7' });
    // Only once: a repeated late verdict releases nothing more.
    fake.deliver({ ftpmasq: 'admission-verdict', id: 1, verdict: 'admit' });
    expect(fake.sent).toHaveLength(2);
  });

  it('a closed channel refuses at once instead of waiting', async () => {
    const fake = fakeChannel();
    fake.open = false;
    const client = new AdmissionClient(fake.channel);
    expect(await client.claim('a', '10.0.0.7', THREE)).toEqual(UNANSWERED);
    expect(client.waiting).toBe(0);
  });
});
