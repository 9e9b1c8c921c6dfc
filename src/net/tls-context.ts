/**
 * The TLS material of a site and the contexts made from it. ftpmasq is the TLS server towards
 * clients, on the control connection after `AUTH TLS` and on every `PROT P` data connection
 * (RFC 4217 section 7: the FTP server is the TLS server, whichever side opened the TCP connection).
 *
 * Cipher policy: TLS 1.2 and 1.3 only, with Node's default cipher list (`tls.DEFAULT_CIPHERS`:
 * the TLS 1.3 AES-GCM and ChaCha20-Poly1305 suites, then ECDHE/DHE with AES-GCM for TLS 1.2, then
 * OpenSSL's HIGH set; no RC4, DES, MD5, export or anonymous suites), as docs/TLS.md states.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { ConfigError } from '../config/values.js';

export const TLS_MIN_VERSION = 'TLSv1.2';
export const TLS_MAX_VERSION = 'TLSv1.3';

/** ALPN protocol id of FTP (RFC 7301 registry); a client that offers only others is refused (ALPACA). */
export const FTP_ALPN = 'ftp';

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
}

/**
 * Reads a certificate and key pair and checks that they make a context (the key matches the
 * certificate): a ConfigError names the key (`tlsCert`, `tlsKey`) and the file.
 */
export function loadTlsMaterial(certFile: string, keyFile: string): TlsMaterial {
  const cert = readPem('tlsCert', certFile, 'a readable PEM certificate file');
  const key = readPem('tlsKey', keyFile, 'a readable PEM private key file');
  try {
    tls.createSecureContext({ cert, key });
  } catch (error) {
    throw new ConfigError('tlsKey', `a private key matching ${certFile}`, `${keyFile} (${errorMessage(error)})`);
  }
  return { cert, key };
}

function readPem(field: string, file: string, expected: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(field, expected, `${file} (${errorMessage(error)})`);
  }
  if (!text.includes('-----BEGIN ')) throw new ConfigError(field, expected, `${file} (no PEM block)`);
  return text;
}

/**
 * The TLS context of one client control session and its data connections. Each session gets its
 * own context, so its own session-ticket keys: a ticket can only be resumed on a data connection
 * of the control connection that received it, which is what `--data-tls-reuse required` checks
 * (`isSessionReused()` alone would accept a ticket from another session of the same client).
 */
export function createSessionContext(material: TlsMaterial): tls.SecureContext {
  return tls.createSecureContext({
    cert: material.cert,
    key: material.key,
    minVersion: TLS_MIN_VERSION,
    maxVersion: TLS_MAX_VERSION,
  });
}

/**
 * ALPN (RFC 7301), server side: `ftp` when offered; a client that offers protocols but not `ftp`
 * (an HTTP client sent here by an attacker, ALPACA) gets a fatal `no_application_protocol` alert.
 * A client that offers none is served.
 */
export function selectAlpn(offered: readonly string[]): string | undefined {
  return offered.includes(FTP_ALPN) ? FTP_ALPN : undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
