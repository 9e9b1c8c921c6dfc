import { describe, expect, it } from 'vitest';
import type { SiteTls, UpstreamTls } from '../../../src/config/types.js';
import {
  advertisedFeatures,
  decideAuth,
  decideCcc,
  decideLogin,
  decidePbsz,
  decideProt,
  type SecurityFacts,
} from '../../../src/site/site-policy.js';

const TLS: SiteTls = {
  certFile: '/etc/ftpmasq/cert.pem',
  keyFile: '/etc/ftpmasq/key.pem',
  cert: '',
  key: '',
  clientTls: 'optional',
  dataTlsReuse: 'required',
  allowClearData: true,
  implicitListen: [],
};
const UPSTREAM_TLS: UpstreamTls = { mode: 'explicit', verify: { kind: 'system' }, allowPlainClients: false };
const PLAIN: SecurityFacts = { controlTls: false, pbszSeen: false };
const SECURE: SecurityFacts = { controlTls: true, pbszSeen: false };
const SECURE_PBSZ: SecurityFacts = { controlTls: true, pbszSeen: true };

describe('decideAuth', () => {
  it.each([
    { title: 'no certificate: 534, counted', tls: undefined, argument: 'TLS', facts: PLAIN, expected: { kind: 'refuse', reason: 'auth_tls' } },
    { title: 'AUTH TLS', tls: TLS, argument: 'TLS', facts: PLAIN, expected: { kind: 'start-tls' } },
    { title: 'AUTH SSL is an alias', tls: TLS, argument: 'SSL', facts: PLAIN, expected: { kind: 'start-tls' } },
    { title: 'AUTH tls-c, any case', tls: TLS, argument: 'tls-c', facts: PLAIN, expected: { kind: 'start-tls' } },
    { title: 'another mechanism: 504', tls: TLS, argument: 'GSSAPI', facts: PLAIN, expected: { kind: 'answer', reply: '504 AUTH TLS is the only security mechanism of this server.\r\n' } },
    { title: 'already TLS: 503', tls: TLS, argument: 'TLS', facts: SECURE, expected: { kind: 'answer', reply: '503 The control connection is already TLS.\r\n' } },
  ])('$title', ({ tls, argument, facts, expected }) => {
    expect(decideAuth({ tls }, argument, facts)).toMatchObject(expected);
  });

  it('answers AUTH TLS with 234', () => {
    expect(decideAuth({ tls: TLS }, 'TLS', PLAIN)).toEqual({ kind: 'start-tls', reply: '234 AUTH TLS successful; start the TLS handshake.\r\n' });
  });
});

describe('decidePbsz', () => {
  it.each([
    { title: 'no certificate: forwarded as before', tls: undefined, argument: '0', facts: PLAIN, expected: { kind: 'forward' } },
    { title: 'before AUTH TLS: 503', tls: TLS, argument: '0', facts: PLAIN, expected: { kind: 'answer', reply: '503 PBSZ needs AUTH TLS first.\r\n' } },
    { title: 'PBSZ 0', tls: TLS, argument: '0', facts: SECURE, expected: { kind: 'pbsz', reply: '200 PBSZ=0\r\n' } },
    { title: 'any size is answered 0', tls: TLS, argument: '16384', facts: SECURE, expected: { kind: 'pbsz', reply: '200 PBSZ=0\r\n' } },
    { title: 'not a number: 501', tls: TLS, argument: 'x', facts: SECURE, expected: { kind: 'answer' } },
  ])('$title', ({ tls, argument, facts, expected }) => {
    expect(decidePbsz({ tls }, argument, facts)).toMatchObject(expected);
  });
});

describe('decideProt', () => {
  it.each([
    { title: 'no certificate: forwarded', tls: undefined, argument: 'P', facts: PLAIN, expected: { kind: 'forward' } },
    { title: 'before AUTH TLS: 503', tls: TLS, argument: 'P', facts: PLAIN, expected: { kind: 'answer', reply: '503 PROT needs AUTH TLS first.\r\n' } },
    { title: 'before PBSZ: 503', tls: TLS, argument: 'P', facts: SECURE, expected: { kind: 'answer', reply: '503 PROT needs PBSZ first.\r\n' } },
    { title: 'PROT P', tls: TLS, argument: 'P', facts: SECURE_PBSZ, expected: { kind: 'prot', level: 'private', reply: '200 PROT now Private.\r\n' } },
    { title: 'prot p, any case', tls: TLS, argument: 'p', facts: SECURE_PBSZ, expected: { kind: 'prot', level: 'private' } },
    { title: 'PROT C allowed by default', tls: TLS, argument: 'C', facts: SECURE_PBSZ, expected: { kind: 'prot', level: 'clear', reply: '200 PROT now Clear.\r\n' } },
    {
      title: 'PROT C refused with allowClearData false',
      tls: { ...TLS, allowClearData: false },
      argument: 'C',
      facts: SECURE_PBSZ,
      expected: { kind: 'refuse', reason: 'clear_data_refused', reply: '534 PROT C refused: data connections must be encrypted here (PROT P).\r\n' },
    },
    { title: 'PROT S: 536', tls: TLS, argument: 'S', facts: SECURE_PBSZ, expected: { kind: 'answer', reply: '536 PROT S and E are not supported with TLS; use P or C.\r\n' } },
    { title: 'PROT E: 536', tls: TLS, argument: 'E', facts: SECURE_PBSZ, expected: { kind: 'answer' } },
    { title: 'PROT X: 504', tls: TLS, argument: 'X', facts: SECURE_PBSZ, expected: { kind: 'answer', reply: '504 PROT takes C or P.\r\n' } },
  ])('$title', ({ tls, argument, facts, expected }) => {
    expect(decideProt({ tls }, argument, facts)).toMatchObject(expected);
  });
});

describe('decideCcc', () => {
  it('is forwarded without a certificate and refused 533 with one', () => {
    expect(decideCcc({ tls: undefined })).toEqual({ kind: 'forward' });
    expect(decideCcc({ tls: TLS })).toMatchObject({ kind: 'refuse', reason: 'ccc_refused', reply: '533 CCC refused: the control connection stays encrypted.\r\n' });
  });
});

describe('decideLogin', () => {
  it.each([
    { title: 'no certificate', tls: undefined, facts: PLAIN, expected: 'forward' },
    { title: 'optional, plain', tls: TLS, facts: PLAIN, expected: 'forward' },
    { title: 'required, plain: 530', tls: { ...TLS, clientTls: 'required' as const }, facts: PLAIN, expected: 'refuse' },
    { title: 'required, TLS', tls: { ...TLS, clientTls: 'required' as const }, facts: SECURE, expected: 'forward' },
  ])('$title: $expected', ({ tls, facts, expected }) => {
    for (const verb of ['USER', 'PASS', 'ACCT']) expect(decideLogin({ tls }, verb, facts).kind).toBe(expected);
  });

  it('names the verb in the 530', () => {
    expect(decideLogin({ tls: { ...TLS, clientTls: 'required' } }, 'PASS', PLAIN)).toMatchObject({
      reason: 'tls_required',
      reply: '530 TLS required: send AUTH TLS before PASS.\r\n',
    });
  });
});

describe('advertisedFeatures', () => {
  it('adds AUTH TLS, PBSZ and PROT only with a certificate', () => {
    expect(advertisedFeatures({ tls: undefined })).toEqual([]);
    expect(advertisedFeatures({ tls: TLS })).toEqual(['AUTH TLS', 'PBSZ', 'PROT']);
  });
});

describe('with TLS towards the server (upstreamTls)', () => {
  const plainAllowed = { ...UPSTREAM_TLS, allowPlainClients: true };
  it.each([
    { title: 'PBSZ, no certificate', decide: () => decidePbsz({ tls: undefined, upstreamTls: plainAllowed }, '0', PLAIN), expected: { kind: 'answer', reply: '503 PBSZ needs AUTH TLS first.\r\n' } },
    { title: 'PROT C, no certificate', decide: () => decideProt({ tls: undefined, upstreamTls: plainAllowed }, 'C', PLAIN), expected: { kind: 'answer', reply: '503 PROT needs AUTH TLS first.\r\n' } },
    { title: 'CCC, no certificate', decide: () => decideCcc({ tls: undefined, upstreamTls: plainAllowed }), expected: { kind: 'answer', reply: '533 CCC refused: the connection to the server stays encrypted.\r\n' } },
    { title: 'PROT P with a certificate: ftpmasq\'s own, as before', decide: () => decideProt({ tls: TLS, upstreamTls: UPSTREAM_TLS }, 'P', SECURE_PBSZ), expected: { kind: 'prot', level: 'private' } },
  ])('$title is never sent upstream', ({ decide, expected }) => {
    expect(decide()).toMatchObject(expected);
  });

  it.each([
    { title: 'plain client, allowPlainClients false: 530', site: { tls: TLS, upstreamTls: UPSTREAM_TLS }, facts: PLAIN, expected: 'refuse' },
    { title: 'TLS client, allowPlainClients false', site: { tls: TLS, upstreamTls: UPSTREAM_TLS }, facts: SECURE, expected: 'forward' },
    { title: 'plain client, allowPlainClients true', site: { tls: TLS, upstreamTls: plainAllowed }, facts: PLAIN, expected: 'forward' },
    { title: 'plain client, no certificate, allowPlainClients true', site: { tls: undefined, upstreamTls: plainAllowed }, facts: PLAIN, expected: 'forward' },
    { title: 'plain client, clientTls required wins over allowPlainClients', site: { tls: { ...TLS, clientTls: 'required' as const }, upstreamTls: plainAllowed }, facts: PLAIN, expected: 'refuse' },
  ])('decides the login of a $title', ({ site, facts, expected }) => {
    for (const verb of ['USER', 'PASS', 'ACCT']) expect(decideLogin(site, verb, facts).kind).toBe(expected);
  });
});
