import { describe, expect, it } from 'vitest';
import { type Cidr, parseCidr } from '../../../src/protocol/cidr.js';
import {
  type AdmissionPolicy,
  CLIENT_DENIED_REPLY,
  CLIENT_SESSION_LIMIT_REPLY,
  decideAdmission,
  SESSION_LIMIT_REPLY,
} from '../../../src/site/admission.js';

function blocks(...texts: string[]): Cidr[] {
  return texts.map((text) => {
    const parsed = parseCidr(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.value;
  });
}

const OPEN: AdmissionPolicy = { allowClients: [], denyClients: [], maxSessions: 10, maxSessionsPerClient: undefined };
const FIRST = { sessions: 0, sessionsFromClient: 0 };

describe('decideAdmission', () => {
  it.each([
    { title: 'no lists: everyone', site: OPEN, client: '203.0.113.2', expected: 'admit' },
    { title: 'inside the allow list', site: { ...OPEN, allowClients: blocks('10.0.11.0/24') }, client: '10.0.11.7', expected: 'admit' },
    { title: 'outside the allow list', site: { ...OPEN, allowClients: blocks('10.0.11.0/24') }, client: '10.0.12.7', expected: 'client_denied' },
    { title: 'IPv4-mapped inside the allow list', site: { ...OPEN, allowClients: blocks('10.0.11.0/24') }, client: '::ffff:10.0.11.7', expected: 'admit' },
    { title: 'IPv6 outside an IPv4 allow list', site: { ...OPEN, allowClients: blocks('0.0.0.0/0') }, client: '2001:db8::7', expected: 'client_denied' },
    { title: 'in the deny list', site: { ...OPEN, denyClients: blocks('192.0.2.0/24') }, client: '192.0.2.9', expected: 'client_denied' },
    { title: 'outside the deny list', site: { ...OPEN, denyClients: blocks('192.0.2.0/24') }, client: '192.0.3.9', expected: 'admit' },
    {
      title: 'deny wins over allow',
      site: { ...OPEN, allowClients: blocks('192.0.0.0/16'), denyClients: blocks('192.0.2.9') },
      client: '192.0.2.9',
      expected: 'client_denied',
    },
    {
      title: 'allowed beside a denied neighbour',
      site: { ...OPEN, allowClients: blocks('192.0.0.0/16'), denyClients: blocks('192.0.2.9') },
      client: '192.0.2.10',
      expected: 'admit',
    },
  ])('$title: $expected', ({ site, client, expected }) => {
    const decision = decideAdmission(site, { clientAddress: client, ...FIRST });
    expect(decision.kind === 'admit' ? 'admit' : decision.reason).toBe(expected);
    if (decision.kind === 'refuse') expect(decision.reply).toBe(CLIENT_DENIED_REPLY);
  });

  it.each([
    { title: 'below both limits', facts: { sessions: 9, sessionsFromClient: 2 }, perClient: 3, expected: { kind: 'admit' } },
    { title: 'the site full', facts: { sessions: 10, sessionsFromClient: 0 }, perClient: 3, expected: { kind: 'refuse', reason: 'session_limit', reply: SESSION_LIMIT_REPLY, limit: 10 } },
    { title: 'the client at its limit', facts: { sessions: 3, sessionsFromClient: 3 }, perClient: 3, expected: { kind: 'refuse', reason: 'client_session_limit', reply: CLIENT_SESSION_LIMIT_REPLY, limit: 3 } },
    { title: 'no per-client limit', facts: { sessions: 9, sessionsFromClient: 9 }, perClient: undefined, expected: { kind: 'admit' } },
  ])('$title', ({ facts, perClient, expected }) => {
    expect(decideAdmission({ ...OPEN, maxSessionsPerClient: perClient }, { clientAddress: '203.0.113.2', ...facts })).toEqual(expected);
  });

  it('a denied client is refused as denied even when the site is full', () => {
    const decision = decideAdmission({ ...OPEN, denyClients: blocks('203.0.113.2') }, { clientAddress: '203.0.113.2', sessions: 10, sessionsFromClient: 10 });
    expect(decision).toMatchObject({ kind: 'refuse', reason: 'client_denied' });
  });

  it('every refusal reply is one 421 line', () => {
    for (const reply of [CLIENT_DENIED_REPLY, SESSION_LIMIT_REPLY, CLIENT_SESSION_LIMIT_REPLY]) expect(reply).toMatch(/^421 [^\r\n]+\r\n$/);
  });
});
