import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ACTIVE_MODES, EPSV_MODES, MODES, type ActiveMode, type EpsvMode, type Mode } from '../../../src/config/types.js';
import { format227, format229 } from '../../../src/protocol/data-addresses.js';
import {
  advertisedIpv4,
  decideActive,
  decideEpsv,
  decidePassiveReply,
  decidePasv,
  dropsFeatureLine,
  formatRelayedPassiveReply,
  forwardsInKernel,
  type SessionFacts,
  type SitePolicy,
} from '../../../src/site/site-policy.js';

/** Every mode x epsv x active combination, with and without a public address. */
const SITES: SitePolicy[] = MODES.flatMap((mode: Mode) =>
  EPSV_MODES.flatMap((epsv: EpsvMode) =>
    ACTIVE_MODES.flatMap((active: ActiveMode) =>
      [undefined, '198.51.100.10'].map((publicAddress) => ({ mode, epsv, active, publicAddress })),
    ),
  ),
);
const siteName = (site: SitePolicy): string => `${site.mode}/${site.epsv}/${site.active}/${site.publicAddress ?? 'no public address'}`;

const V4: SessionFacts = { clientAddress: '203.0.113.2', ownAddress: '203.0.113.10', epsvAllSeen: false };
const V6: SessionFacts = { clientAddress: '2001:db8::2', ownAddress: '2001:db8::10', epsvAllSeen: false };
const AFTER_EPSV_ALL: SessionFacts = { ...V4, epsvAllSeen: true };

describe('the combinations', () => {
  it('cover 3 modes x 3 epsv x 2 active x 2 public addresses', () => {
    expect(new Set(SITES.map(siteName)).size).toBe(36);
  });
});

describe('advertisedIpv4', () => {
  it.each([
    { title: 'public IPv4 configured', publicAddress: '198.51.100.10', facts: V6, expected: '198.51.100.10' },
    { title: 'public IPv4-mapped configured, normalized', publicAddress: '::ffff:198.51.100.10', facts: V4, expected: '198.51.100.10' },
    { title: 'public IPv6 configured: the local IPv4 address', publicAddress: '2001:db8::1', facts: V4, expected: '203.0.113.10' },
    { title: 'none: the local address of an IPv4 control connection', publicAddress: undefined, facts: V4, expected: '203.0.113.10' },
    { title: 'none, IPv6 control connection: nothing to advertise', publicAddress: undefined, facts: V6, expected: undefined },
  ])('$title', ({ publicAddress, facts, expected }) => {
    expect(advertisedIpv4({ publicAddress }, facts)).toBe(expected);
  });
});

describe('decidePasv', () => {
  it.each(SITES.map((site) => ({ name: siteName(site), site })))('$name', ({ site }) => {
    const passive = { kind: 'passive', exchange: { upstreamReply: 227, answerAs: 227 } };
    expect(decidePasv(site, V4)).toEqual(passive);
    expect(decidePasv(site, AFTER_EPSV_ALL)).toEqual({
      kind: 'refuse',
      reason: 'after_epsv_all',
      reply: '501 PASV not allowed after EPSV ALL.\r\n',
      details: { verb: 'PASV' },
    });
    // Relay mode cannot tie an IPv6 client's data connection over IPv4 to it: refused, even with a public IPv4.
    expect(decidePasv(site, V6)).toEqual(
      site.mode !== 'rewrite'
        ? { kind: 'refuse', reason: 'ipv6_pasv', reply: '425 PASV cannot name an IPv6 address; use EPSV.\r\n', details: { verb: 'PASV' } }
        : passive,
    );
  });
});

describe('decideEpsv', () => {
  const disabled = { kind: 'refuse', reason: 'epsv_disabled', reply: '502 EPSV is disabled on this proxy; use PASV.\r\n', details: { verb: 'EPSV' } };
  const translated = { kind: 'passive', send: 'PASV', exchange: { upstreamReply: 227, answerAs: 229 } };
  const relayed = { kind: 'passive', send: 'as-sent', exchange: { upstreamReply: 229, answerAs: 229 } };
  const use = (family: string): object => ({ kind: 'answer', reply: `522 Network protocol not supported, use (${family}).\r\n` });

  /** What each epsv mode (and, in passthrough, each mode) answers, by argument, for an IPv4 and an IPv6 client. */
  function expected(site: SitePolicy, argument: string, facts: SessionFacts): object {
    if (site.epsv === 'disable') return disabled;
    if (argument.toUpperCase() === 'ALL') {
      return { kind: 'epsv-all', reply: site.epsv === 'translate' ? '200 EPSV ALL command successful.\r\n' : undefined };
    }
    if (site.epsv === 'translate') {
      const own = facts === V6 ? '2' : '1';
      return argument === '' || argument === own ? translated : use(own);
    }
    return site.mode === 'rewrite' ? { kind: 'forward' } : relayed;
  }

  const cases = SITES.flatMap((site) =>
    ['', '1', '2', 'ALL', 'all'].flatMap((argument) =>
      [V4, V6].map((facts) => ({ name: `${siteName(site)} EPSV ${argument} from ${facts.clientAddress}`, site, argument, facts })),
    ),
  );
  it.each(cases)('$name', ({ site, argument, facts }) => {
    expect(decideEpsv(site, argument, facts)).toEqual(expected(site, argument, facts));
  });

  it('spells the table out for the four answers that matter', () => {
    const site: SitePolicy = { mode: 'relay', epsv: 'translate', active: 'relay', publicAddress: undefined };
    expect(decideEpsv(site, '2', V4)).toEqual(use('1'));
    expect(decideEpsv(site, '1', V6)).toEqual(use('2'));
    expect(decideEpsv({ ...site, epsv: 'passthrough' }, '', V4)).toEqual(relayed);
    expect(decideEpsv({ ...site, epsv: 'passthrough', mode: 'rewrite' }, '', V4)).toEqual({ kind: 'forward' });
  });

  it('is allowed after EPSV ALL (only PASV, PORT and EPRT are not)', () => {
    const site: SitePolicy = { mode: 'relay', epsv: 'passthrough', active: 'relay', publicAddress: undefined };
    expect(decideEpsv(site, '', AFTER_EPSV_ALL)).toEqual(relayed);
  });
});

describe('decideActive', () => {
  const ALLOWED = { kind: 'active', target: { host: '203.0.113.2', port: 50000 } };
  const cases: { title: string; verb: 'PORT' | 'EPRT'; argument: string; facts?: SessionFacts; expected: object }[] = [
    { title: 'PORT naming the client, high port', verb: 'PORT', argument: '203,0,113,2,195,80', expected: ALLOWED },
    { title: 'EPRT naming the client, high port', verb: 'EPRT', argument: '|1|203.0.113.2|50000|', expected: ALLOWED },
    {
      title: 'EPRT from an IPv6 client naming itself',
      verb: 'EPRT',
      argument: '|2|2001:db8::2|50000|',
      facts: V6,
      expected: { kind: 'active', target: { host: '2001:db8::2', port: 50000 } },
    },
    {
      title: 'PORT naming another host: bounce',
      verb: 'PORT',
      argument: '198,51,100,7,195,80',
      expected: {
        kind: 'refuse',
        reason: 'bounce_foreign_host',
        reply: '500 Illegal PORT command: address must be your own.\r\n',
        details: { verb: 'PORT', target: '198.51.100.7:50000' },
      },
    },
    {
      title: 'EPRT naming a privileged port',
      verb: 'EPRT',
      argument: '|1|203.0.113.2|25|',
      expected: {
        kind: 'refuse',
        reason: 'bounce_privileged_port',
        reply: '504 Illegal PORT command: port below 1024.\r\n',
        details: { verb: 'EPRT', target: '203.0.113.2:25' },
      },
    },
    {
      title: 'PORT with five numbers',
      verb: 'PORT',
      argument: '203,0,113,2,195',
      expected: { kind: 'refuse', reason: 'bad_argument', details: { verb: 'PORT' } },
    },
    {
      title: 'PORT after EPSV ALL',
      verb: 'PORT',
      argument: '203,0,113,2,195,80',
      facts: AFTER_EPSV_ALL,
      expected: { kind: 'refuse', reason: 'after_epsv_all', reply: '501 PORT not allowed after EPSV ALL.\r\n', details: { verb: 'PORT' } },
    },
  ];

  describe.each(SITES.map((site) => ({ name: siteName(site), site })))('$name', ({ site }) => {
    it.each(cases)('$title', ({ verb, argument, facts, expected }) => {
      const decision = decideActive(site, verb, argument, facts ?? V4);
      if (site.active === 'disable') {
        expect(decision).toEqual({
          kind: 'refuse',
          reason: 'active_disabled',
          reply: `502 ${verb} is disabled on this proxy; use passive mode.\r\n`,
          details: { verb },
        });
      } else {
        expect(decision).toMatchObject(expected);
      }
    });
  });

  it('says what is wrong with a bad argument', () => {
    const site = SITES[0];
    if (site === undefined) throw new Error('no site');
    const decision = decideActive(site, 'PORT', '1,2,3', V4);
    expect(decision.kind === 'refuse' && decision.reply).toMatch(/^501 Syntax error in PORT argument: .+\.\r\n$/);
  });

  it('never allows a target that is not the client itself on a port >= 1024 (property)', () => {
    const site: SitePolicy = { mode: 'relay', epsv: 'passthrough', active: 'relay', publicAddress: undefined };
    const octet = fc.integer({ min: 0, max: 255 });
    const host = fc.oneof(fc.constant('203.0.113.2'), fc.tuple(octet, octet, octet, octet).map((parts) => parts.join('.')));
    fc.assert(
      fc.property(host, fc.integer({ min: 0, max: 65535 }), fc.boolean(), (targetHost, port, eprt) => {
        const argument = eprt ? `|1|${targetHost}|${port}|` : `${targetHost.split('.').join(',')},${port >> 8},${port & 0xff}`;
        const decision = decideActive(site, eprt ? 'EPRT' : 'PORT', argument, V4);
        if (decision.kind === 'active') {
          expect(decision.target.host).toBe(V4.clientAddress);
          expect(decision.target.port).toBeGreaterThanOrEqual(1024);
        } else {
          expect(targetHost !== V4.clientAddress || port < 1024 || port === 0).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never allows anything when active mode is disabled (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.constantFrom('PORT' as const, 'EPRT' as const), (argument, verb) => {
        const decision = decideActive({ mode: 'relay', epsv: 'passthrough', active: 'disable', publicAddress: undefined }, verb, argument, V4);
        expect(decision).toMatchObject({ kind: 'refuse', reason: 'active_disabled' });
      }),
    );
  });
});

describe('decidePassiveReply', () => {
  const PRIVATE_227 = Buffer.from('227 Entering Passive Mode (10,0,11,251,195,80).\r\n');
  const PUBLIC_227 = Buffer.from('227 Entering Passive Mode (93,184,216,34,195,80).\r\n');
  const reply = (text: Buffer): { text: Buffer; upstreamPort: number; eol: string } => ({ text, upstreamPort: 50000, eol: '\r\n' });
  const pasv = { upstreamReply: 227, answerAs: 227 } as const;
  const translated = { upstreamReply: 227, answerAs: 229 } as const;

  it.each(SITES.filter((site) => site.mode === 'relay').map((site) => ({ name: siteName(site), site })))(
    'relay mode answers with a port of its own: $name',
    ({ site }) => {
      expect(decidePassiveReply(site, pasv, reply(PRIVATE_227), V4)).toEqual({ kind: 'relay' });
      expect(decidePassiveReply(site, translated, reply(PUBLIC_227), V4)).toEqual({ kind: 'relay' });
    },
  );

  it.each(SITES.filter((site) => site.mode === 'kernel').map((site) => ({ name: siteName(site), site })))(
    'kernel mode forwards an IPv4 client\'s port in the kernel and relays an IPv6 client\'s data: $name',
    ({ site }) => {
      expect(decidePassiveReply(site, pasv, reply(PRIVATE_227), V4)).toEqual({ kind: 'kernel' });
      expect(decidePassiveReply(site, translated, reply(PUBLIC_227), V4)).toEqual({ kind: 'kernel' });
      expect(decidePassiveReply(site, { upstreamReply: 229, answerAs: 229 }, reply(PRIVATE_227), V6)).toEqual({ kind: 'relay' });
    },
  );

  it.each(MODES.map((mode) => ({ mode, expected: mode === 'kernel' })))('forwardsInKernel($mode) is $expected', ({ mode, expected }) => {
    expect(forwardsInKernel({ mode })).toBe(expected);
  });

  describe.each(SITES.filter((site) => site.mode === 'rewrite').map((site) => ({ name: siteName(site), site })))('rewrite mode: $name', ({ site }) => {
    const advertised = site.publicAddress ?? V4.ownAddress;
    it('rewrites an unroutable 227 to the advertised address and the server port', () => {
      expect(decidePassiveReply(site, pasv, reply(PRIVATE_227), V4)).toEqual({
        kind: 'rewrite',
        answer: format227(advertised, 50000),
        rewrite: 'pasv',
      });
    });
    it('passes a 227 that already names a routable address', () => {
      expect(decidePassiveReply(site, pasv, reply(PUBLIC_227), V4)).toEqual({ kind: 'pass' });
    });
    it('passes a 227 when there is no IPv4 address to advertise', () => {
      expect(decidePassiveReply(site, pasv, reply(PRIVATE_227), V6)).toEqual(
        site.publicAddress === undefined ? { kind: 'pass' } : { kind: 'rewrite', answer: format227(advertised, 50000), rewrite: 'pasv' },
      );
    });
    it('answers an EPSV translated to PASV with a 229 of the server port', () => {
      expect(decidePassiveReply(site, translated, reply(PUBLIC_227), V4)).toEqual({ kind: 'rewrite', answer: format229(50000), rewrite: 'epsv' });
    });
  });
});

describe('formatRelayedPassiveReply', () => {
  it.each([
    { title: 'PASV: a 227 with the advertised address', answerAs: 227 as const, advertised: '198.51.100.10', expected: format227('198.51.100.10', 60000, '\n'), rewrite: 'pasv' },
    { title: 'EPSV: a 229 with the server delimiter', answerAs: 229 as const, advertised: '198.51.100.10', expected: format229(60000, '!', '\n'), rewrite: 'epsv' },
    { title: 'PASV without an IPv4 address: a 229', answerAs: 227 as const, advertised: undefined, expected: format229(60000, '!', '\n'), rewrite: 'pasv' },
  ])('$title', ({ answerAs, advertised, expected, rewrite }) => {
    expect(formatRelayedPassiveReply({ upstreamReply: 227, answerAs }, 60000, '!', '\n', advertised)).toEqual({ answer: expected, rewrite });
  });
});

describe('dropsFeatureLine', () => {
  const lines: { line: string; drop: boolean; dropWhenEpsvDisabled: boolean }[] = [
    { line: ' AUTH TLS\r\n', drop: true, dropWhenEpsvDisabled: true },
    { line: ' auth ssl\n', drop: true, dropWhenEpsvDisabled: true },
    { line: ' PBSZ\r\n', drop: true, dropWhenEpsvDisabled: true },
    { line: ' PROT\r\n', drop: true, dropWhenEpsvDisabled: true },
    { line: ' CCC\r\n', drop: true, dropWhenEpsvDisabled: true },
    { line: ' EPSV\r\n', drop: false, dropWhenEpsvDisabled: true },
    { line: ' EPRT\r\n', drop: false, dropWhenEpsvDisabled: false },
    { line: ' AUTHX\r\n', drop: false, dropWhenEpsvDisabled: false },
    { line: '211-Features:\r\n', drop: false, dropWhenEpsvDisabled: false },
    { line: '211 AUTH\r\n', drop: false, dropWhenEpsvDisabled: false },
  ];
  it.each(EPSV_MODES.flatMap((epsv) => lines.map((entry) => ({ epsv, ...entry }))))('$epsv: $line', ({ epsv, line, drop, dropWhenEpsvDisabled }) => {
    expect(dropsFeatureLine({ epsv }, Buffer.from(line, 'latin1'))).toBe(epsv === 'disable' ? dropWhenEpsvDisabled : drop);
  });
});
