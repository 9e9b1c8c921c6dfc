/**
 * What ftpmasq expects of the next reply, one entry per client command in flight (a FIFO, so
 * pipelined commands keep their meaning), plus replies ftpmasq answers itself, which wait in the
 * same queue so they reach the client in order.
 */
import type { HostPort } from '../protocol/data-addresses.js';
import type { PassiveExchange } from '../site/site-policy.js';

export type Intent =
  /** The server's greeting, the first reply of every session. */
  | { readonly kind: 'greeting' }
  /** Forwarded unchanged. */
  | { readonly kind: 'plain' }
  /** FEAT: the feature lines the site policy drops (TLS; EPSV where disabled) are left out. */
  | { readonly kind: 'feat' }
  /** RETR, STOR, LIST ...: the final reply waits until the data relay has flushed. */
  | { readonly kind: 'transfer' }
  /**
   * PASV or EPSV sent upstream for a client's PASV or EPSV: the reply is answered as a 227 or
   * 229 naming ftpmasq's own port (relay mode) or the public address (rewrite mode).
   */
  | ({ readonly kind: 'passive' } & PassiveExchange)
  /** PASV sent upstream on behalf of a client's PORT/EPRT: the client gets a 200. */
  | { readonly kind: 'active'; readonly clientTarget: HostPort; readonly verb: 'PORT' | 'EPRT' }
  /** A reply ftpmasq gives itself, after the replies to the commands before it. */
  | { readonly kind: 'local'; readonly reply: Buffer };

export const TRANSFER_VERBS: ReadonlySet<string> = new Set(['RETR', 'STOR', 'STOU', 'APPE', 'LIST', 'NLST', 'MLSD']);
