/**
 * What ftpmasq expects of the next reply, one entry per client command in flight (a FIFO, so
 * pipelined commands keep their meaning), plus replies ftpmasq answers itself, which wait in the
 * same queue so they reach the client in order.
 */
import type { HostPort } from '../protocol/data-addresses.js';

export type Intent =
  /** The server's greeting, the first reply of every session. */
  | { readonly kind: 'greeting' }
  /** Forwarded unchanged. */
  | { readonly kind: 'plain' }
  /** FEAT: TLS and (when disabled) EPSV feature lines are dropped. */
  | { readonly kind: 'feat' }
  /** RETR, STOR, LIST ...: the final reply waits until the data relay has flushed. */
  | { readonly kind: 'transfer' }
  /**
   * PASV or EPSV sent upstream for a client's PASV or EPSV: the reply is answered as a 227 or
   * 229 naming ftpmasq's own port (relay mode) or the public address (rewrite mode).
   */
  | {
      readonly kind: 'passive';
      readonly upstreamReply: 227 | 229;
      readonly answerAs: 227 | 229;
    }
  /** PASV sent upstream on behalf of a client's PORT/EPRT: the client gets a 200. */
  | { readonly kind: 'active'; readonly clientTarget: HostPort; readonly verb: 'PORT' | 'EPRT' }
  /** A reply ftpmasq gives itself, after the replies to the commands before it. */
  | { readonly kind: 'local'; readonly reply: Buffer };

export const TRANSFER_VERBS: ReadonlySet<string> = new Set(['RETR', 'STOR', 'STOU', 'APPE', 'LIST', 'NLST', 'MLSD']);

/**
 * FEAT lines of TLS features: a client that sees them may send AUTH TLS, and an encrypted
 * control channel would hide the 227 from ftpmasq. Matched on the feature name only.
 */
const TLS_FEATURES = new Set(['AUTH', 'PBSZ', 'PROT', 'CCC']);

/** The feature name of a FEAT continuation line (" AUTH TLS" -> "AUTH"), upper-cased. */
export function featureName(line: Buffer): string {
  const text = line.toString('latin1').trim();
  const space = text.indexOf(' ');
  return (space === -1 ? text : text.slice(0, space)).toUpperCase();
}

export function shouldDropFeature(line: Buffer, epsvDisabled: boolean): boolean {
  // RFC 2389: feature lines start with a space; the first and last lines carry the code.
  if (line[0] !== 0x20) return false;
  const name = featureName(line);
  return TLS_FEATURES.has(name) || (epsvDisabled && name === 'EPSV');
}
