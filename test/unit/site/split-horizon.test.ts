import { describe, expect, it } from 'vitest';
import type { AdvertiseRule } from '../../../src/config/types.js';
import { type Cidr, parseCidr } from '../../../src/protocol/cidr.js';
import { format227 } from '../../../src/protocol/data-addresses.js';
import { advertisedIpv4, decidePassiveReply, decidePasv, type SessionFacts, type SitePolicy } from '../../../src/site/site-policy.js';

function blocks(...texts: string[]): Cidr[] {
  return texts.map((text) => {
    const parsed = parseCidr(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.value;
  });
}

const ADVERTISE: AdvertiseRule[] = [
  { clients: blocks('10.0.11.0/25'), address: '10.0.11.1' },
  { clients: blocks('10.0.0.0/8', '172.16.0.0/12'), address: '10.255.0.1' },
];
const RELAY: SitePolicy = { mode: 'relay', epsv: 'passthrough', active: 'relay', publicAddress: '203.0.113.10', advertise: ADVERTISE, passThroughClients: [] };
const REWRITE: SitePolicy = { ...RELAY, mode: 'rewrite', advertise: [], passThroughClients: blocks('10.0.11.0/24') };

const facts = (clientAddress: string, ownAddress = '203.0.113.10'): SessionFacts => ({ clientAddress, ownAddress, epsvAllSeen: false });

describe('advertisedIpv4 with advertise rules (relay mode)', () => {
  it.each([
    { title: 'first rule', client: '10.0.11.7', expected: '10.0.11.1' },
    { title: 'first rule, IPv4-mapped client', client: '::ffff:10.0.11.7', expected: '10.0.11.1' },
    { title: 'second rule, first block', client: '10.0.11.200', expected: '10.255.0.1' },
    { title: 'second rule, second block', client: '172.20.1.1', expected: '10.255.0.1' },
    { title: 'no rule: publicAddress', client: '198.51.100.2', expected: '203.0.113.10' },
  ])('$title: $client -> $expected', ({ client, expected }) => {
    expect(advertisedIpv4(RELAY, facts(client))).toBe(expected);
  });

  it('no rule and no publicAddress: the local address of the control connection', () => {
    expect(advertisedIpv4({ ...RELAY, publicAddress: undefined }, facts('198.51.100.2', '192.0.2.10'))).toBe('192.0.2.10');
  });

  it('a matched client can PASV even without publicAddress', () => {
    expect(decidePasv({ ...RELAY, publicAddress: undefined }, facts('10.0.11.7', '2001:db8::1')).kind).toBe('passive');
  });

  it('rewrite mode ignores advertise: the rewritten 227 names publicAddress', () => {
    expect(advertisedIpv4({ ...REWRITE, advertise: ADVERTISE }, facts('10.0.11.7'))).toBe('203.0.113.10');
  });
});

describe('decidePassiveReply with passThroughClients (rewrite mode)', () => {
  const reply = { text: format227('10.0.11.251', 50000, '\r\n'), upstreamPort: 50000, eol: '\r\n' };
  const pasv = { upstreamReply: 227, answerAs: 227 } as const;

  it.each([
    { title: 'an internal client gets the server\'s 227 unchanged', client: '10.0.11.7', expected: { kind: 'pass' } },
    { title: 'IPv4-mapped internal client too', client: '::ffff:10.0.11.7', expected: { kind: 'pass' } },
    { title: 'anyone else gets the public address', client: '198.51.100.2', expected: { kind: 'rewrite', answer: format227('203.0.113.10', 50000, '\r\n'), rewrite: 'pasv' } },
  ])('$title', ({ client, expected }) => {
    expect(decidePassiveReply(REWRITE, pasv, reply, facts(client))).toEqual(expected);
  });

  it('relay mode ignores passThroughClients: ftpmasq relays', () => {
    expect(decidePassiveReply({ ...RELAY, passThroughClients: blocks('0.0.0.0/0') }, pasv, reply, facts('10.0.11.7'))).toEqual({ kind: 'relay' });
  });
});
