import { describe, expect, it } from 'vitest';
import { FINGERPRINT_FORM, parseFingerprint } from '../../../src/config/site-fields-upstream-tls.js';
import { buildConfig } from '../../../src/config/schema.js';
import { ConfigError } from '../../../src/config/values.js';

const HEX = 'fa4ad9cf90219054c83a13210f708eb7e885c89247cb339032f22b2325ca2f66';
const UPPER = HEX.toUpperCase();

describe('parseFingerprint', () => {
  it.each([
    { title: 'lower-case hex', input: HEX, expected: UPPER },
    { title: 'colons between byte pairs (openssl x509 -fingerprint)', input: UPPER.match(/../g)?.join(':') ?? '', expected: UPPER },
    { title: 'surrounding blanks', input: `  ${HEX} `, expected: UPPER },
  ])('$title', ({ input, expected }) => {
    expect(parseFingerprint('upstreamTlsFingerprint', input)).toBe(expected);
  });

  it.each([
    { title: 'too short', input: HEX.slice(2) },
    { title: 'not hex', input: `${HEX.slice(2)}zz` },
    { title: 'SHA-1 length', input: HEX.slice(0, 40) },
    { title: 'empty', input: '' },
  ])('refuses $title', ({ input }) => {
    expect(() => parseFingerprint('upstreamTlsFingerprint', input)).toThrow(new ConfigError('upstreamTlsFingerprint', FINGERPRINT_FORM, input));
  });
});

describe('upstreamTls in a site', () => {
  it('is absent with the default off', () => {
    expect(buildConfig({ upstream: '10.0.0.1:21' }).sites[0]?.upstreamTls).toBeUndefined();
  });

  it('verifies against the system CAs when neither a CA nor a pin is given', () => {
    const site = buildConfig({ upstream: 'ftp.example.net:21', upstreamTls: 'implicit', allowPlainClients: 'true' }).sites[0];
    expect(site?.upstreamTls).toEqual({ mode: 'implicit', verify: { kind: 'system' }, allowPlainClients: true });
  });

  it('keeps a pin in the form Node reports it, without colons', () => {
    const site = buildConfig({ upstream: '10.0.0.1:21', upstreamTls: 'explicit', allowPlainClients: 'true', upstreamTlsFingerprint: HEX }).sites[0];
    expect(site?.upstreamTls?.verify).toEqual({ kind: 'fingerprint', sha256: UPPER });
  });

  it.each([
    { title: 'a CA with upstreamTls off', raw: { upstreamTlsCa: '/etc/ssl/ca.pem' }, field: '--upstream-tls-ca' },
    { title: 'a pin with upstreamTls off', raw: { upstreamTlsFingerprint: HEX }, field: '--upstream-tls-fingerprint' },
    { title: 'both a CA and a pin', raw: { upstreamTls: 'explicit', allowPlainClients: 'true', upstreamTlsCa: '/etc/ssl/ca.pem', upstreamTlsFingerprint: HEX }, field: '--upstream-tls-fingerprint' },
  ])('refuses $title, naming the flag', ({ raw, field }) => {
    expect(() => buildConfig({ upstream: '10.0.0.1:21', ...raw })).toThrow(expect.objectContaining({ field }));
  });
});
