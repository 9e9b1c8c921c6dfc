/**
 * What ftpmasq expects of the next reply, one entry per client command in flight (a FIFO, so
 * pipelined commands keep their meaning), plus replies ftpmasq answers itself, which wait in the
 * same queue so they reach the client in order.
 */
import type { ClientCommand } from '../protocol/command.js';
import type { HostPort } from '../protocol/data-addresses.js';
import type { PassiveExchange } from '../site/site-policy.js';

export type Intent =
  /** The server's greeting, the first reply of every session. */
  | { readonly kind: 'greeting' }
  /** Forwarded unchanged. `user`: a USER command's argument, which a 230 or 331 makes the session's user (session-activity.ts). */
  | { readonly kind: 'plain'; readonly user?: Buffer }
  /** FEAT: the feature lines the site policy drops (TLS; EPSV where disabled) are left out. */
  | { readonly kind: 'feat' }
  /** RETR, STOR, LIST ...: the final reply waits until the data relay has flushed. */
  | { readonly kind: 'transfer'; readonly command?: ClientCommand }
  /**
   * STAT sent while a transfer awaits its final reply. RFC 959 (4.1.3) lets a server answer it
   * during the transfer, so its 211/212/213 may come before the transfer's final reply; ProFTPD
   * 1.3.8 answers after it, in order (docs/DESIGN.md, "STAT during a transfer").
   */
  | { readonly kind: 'status' }
  /**
   * PASV or EPSV sent upstream for a client's PASV or EPSV: the reply is answered as a 227 or
   * 229 naming ftpmasq's own port (relay mode) or the public address (rewrite mode).
   */
  | ({ readonly kind: 'passive' } & PassiveExchange)
  /** PASV sent upstream on behalf of a client's PORT/EPRT: the client gets a 200. */
  | { readonly kind: 'active'; readonly clientTarget: HostPort; readonly verb: 'PORT' | 'EPRT' }
  /** A reply ftpmasq gives itself, after the replies to the commands before it; `closes` ends the session. */
  | { readonly kind: 'local'; readonly reply: Buffer; readonly closes: boolean; readonly afterSent?: (() => void) | undefined };

/** A reply of ftpmasq's own that has come to its turn. */
export interface DueReply {
  readonly reply: Buffer;
  /** The session ends with this reply (the drain's 421). */
  readonly closes: boolean;
  /** Runs right after the reply is written (AUTH TLS: the TLS upgrade). */
  readonly afterSent?: (() => void) | undefined;
}

export const TRANSFER_VERBS: ReadonlySet<string> = new Set(['RETR', 'STOR', 'STOU', 'APPE', 'LIST', 'NLST', 'MLSD']);

/**
 * The FIFO of intents. A reply ftpmasq gives itself waits behind the replies still owed for
 * earlier commands, so the client sees replies in the order it sent commands.
 */
export class IntentQueue {
  /** Every session starts awaiting the server's greeting. */
  private readonly pending: Intent[] = [{ kind: 'greeting' }];

  get head(): Intent | undefined {
    return this.pending[0];
  }

  /** Intents awaiting a reply, local replies waiting their turn included. */
  get length(): number {
    return this.pending.length;
  }

  push(intent: Intent): void {
    this.pending.push(intent);
  }

  /** Queues ftpmasq's own reply; true when nothing is owed before it and it may go out now. */
  queueLocal(reply: Buffer, options: { readonly closes: boolean; readonly afterSent?: () => void } = { closes: false }): boolean {
    if (this.pending.length === 0) return true;
    this.pending.push({ kind: 'local', reply, closes: options.closes, afterSent: options.afterSent });
    return false;
  }

  /** A PASV sent for a PORT/EPRT still awaits its reply. */
  hasActive(): boolean {
    return this.pending.some((intent) => intent.kind === 'active');
  }

  /** A transfer command still awaits its final reply. */
  hasTransfer(): boolean {
    return this.pending.some((intent) => intent.kind === 'transfer');
  }

  /**
   * A STAT right behind the transfer at the head got its reply first: it is removed, the head
   * stays. False (nothing removed) when the queue is not so.
   */
  completeStatusBehindTransfer(): boolean {
    if (this.pending[0]?.kind !== 'transfer' || this.pending[1]?.kind !== 'status') return false;
    this.pending.splice(1, 1);
    return true;
  }

  /** The head has had its final reply: removed, with the local replies now due after it. */
  completeHead(): { readonly completed: Intent | undefined; readonly due: DueReply[] } {
    const completed = this.pending.shift();
    const due: DueReply[] = [];
    while (this.pending[0]?.kind === 'local') {
      const local = this.pending.shift();
      if (local?.kind === 'local') due.push(local);
    }
    return { completed, due };
  }
}
