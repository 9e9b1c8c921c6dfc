/**
 * The site keys of TLS towards the upstream and their conversion to UpstreamTls: the CA file is
 * read and checked while the configuration loads (so again on each reload), and a setting that
 * would be ignored or would lock every client out is an error naming the key.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { booleanOption, choiceOption, optionalOption, parseFilePath } from './schema-builders.js';
import type { IssueSink } from './site-tls-options.js';
import { UPSTREAM_TLS_MODES, type UpstreamTls, type UpstreamTlsMode, type UpstreamTlsVerify } from './types.js';
import { ConfigError } from './values.js';

export const FINGERPRINT_FORM = 'a SHA-256 fingerprint: 64 hex digits, colons between byte pairs optional';

/** `AB:CD:...` or `abcd...` -> `ABCD...`; the form Node's `fingerprint256` has, without colons. */
export function parseFingerprint(field: string, text: string): string {
  const compact = text.trim().replaceAll(':', '').toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(compact)) throw new ConfigError(field, FINGERPRINT_FORM, text);
  return compact;
}

export const upstreamTlsFields = {
  upstreamTls: choiceOption('upstreamTls', UPSTREAM_TLS_MODES),
  upstreamTlsCa: optionalOption('upstreamTlsCa', parseFilePath),
  upstreamTlsFingerprint: optionalOption('upstreamTlsFingerprint', parseFingerprint),
  allowPlainClients: booleanOption('allowPlainClients'),
};

export interface UpstreamTlsValues {
  readonly upstreamTls: UpstreamTlsMode;
  readonly upstreamTlsCa?: string | undefined;
  readonly upstreamTlsFingerprint?: string | undefined;
  readonly allowPlainClients: boolean;
}

/**
 * The site's UpstreamTls, undefined with `upstreamTls: off`, or 'invalid' after an issue.
 * `hasClientTls`: the site has a certificate, so a client can make its control connection TLS.
 */
export function toUpstreamTls(values: UpstreamTlsValues, hasClientTls: boolean, context: IssueSink): UpstreamTls | undefined | 'invalid' {
  const issue = (path: string, expected: string, received: string, message: string): 'invalid' => {
    context.addIssue({ code: 'custom', message, path: [path], params: { expected, received }, input: received });
    return 'invalid';
  };
  const { upstreamTls: mode, upstreamTlsCa: caFile, upstreamTlsFingerprint: sha256 } = values;
  if (mode === 'off') {
    if (caFile !== undefined) return issue('upstreamTlsCa', 'upstreamTls explicit or implicit with upstreamTlsCa', 'upstreamTls: off', 'upstreamTlsCa needs upstreamTls explicit or implicit');
    if (sha256 !== undefined) return issue('upstreamTlsFingerprint', 'upstreamTls explicit or implicit with upstreamTlsFingerprint', 'upstreamTls: off', 'upstreamTlsFingerprint needs upstreamTls explicit or implicit');
    return undefined;
  }
  if (caFile !== undefined && sha256 !== undefined) {
    return issue('upstreamTlsFingerprint', 'either upstreamTlsCa or upstreamTlsFingerprint', 'both', 'upstreamTlsCa and upstreamTlsFingerprint exclude each other: pin a certificate or trust a CA');
  }
  if (!hasClientTls && !values.allowPlainClients) {
    return issue(
      'allowPlainClients',
      'tlsCert and tlsKey (clients log in over TLS), or allowPlainClients: true',
      'false',
      `upstreamTls ${mode} without tlsCert: every client would log in over a plain connection; set tlsCert and tlsKey, or allowPlainClients: true`,
    );
  }
  let verify: UpstreamTlsVerify = { kind: 'system' };
  if (sha256 !== undefined) verify = { kind: 'fingerprint', sha256 };
  if (caFile !== undefined) {
    try {
      verify = { kind: 'ca', caFile, ca: readCa(caFile) };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return issue(error.field, error.expected, error.received, error.message);
    }
  }
  return { mode, verify, allowPlainClients: values.allowPlainClients };
}

function readCa(file: string): string {
  const expected = 'a readable PEM file of CA certificates';
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('upstreamTlsCa', expected, `${file} (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError('upstreamTlsCa', expected, `${file} (no PEM certificate)`);
  try {
    tls.createSecureContext({ ca: text });
  } catch (error) {
    throw new ConfigError('upstreamTlsCa', expected, `${file} (${error instanceof Error ? error.message : String(error)})`);
  }
  return text;
}
