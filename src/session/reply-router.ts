import { ReplyTracker, isPreliminary, isStatusReply } from '../protocol/reply-tracker.js';
import { finishFeatureReply, passFeatureLine } from './handlers/features.js';
import { answerDataSetupReply } from './handlers/passive.js';
import type { SessionScope } from './handlers/scope.js';
import { answerTransferReply } from './handlers/transfer.js';
import type { Intent } from './intents.js';

/**
 * A multi-line 227/229 is held whole until its last line, so it is the one place a server's
 * reply grows ftpmasq's memory. No server needs more than a few lines; over either limit the
 * session ends with 421 (`onOverflow`). Lines of other replies pass on at once, at the pace the
 * client reads them.
 */
export const MAX_HELD_REPLY_LINES = 64;
export const MAX_HELD_REPLY_BYTES = 16 * 1024;

/**
 * Routes each upstream line by the intent at the head of the queue (RFC 959 multi-line replies
 * framed by a ReplyTracker): a 227/229 to the passive or active handler, a FEAT line through the
 * feature filter, a transfer's final reply to the gate, anything else to the client unchanged.
 */
export class ReplyRouter {
  private readonly replies = new ReplyTracker();
  /** Lines of a 227/229 reply held until its last line, to be answered as one. */
  private heldReply: Buffer[] = [];
  private heldBytes = 0;

  /**
   * `onReply`: the last line of each reply, with its code, before it is routed. `onOverflow`: a
   * held reply passed MAX_HELD_REPLY_LINES or MAX_HELD_REPLY_BYTES; its lines are dropped and
   * nothing more is routed (the session ends).
   */
  constructor(
    private readonly onReply: (code: number) => void,
    private readonly onOverflow: (held: { readonly lines: number; readonly bytes: number }) => void = () => undefined,
  ) {}

  /** Returns the work still running (a port being bound, a relay flushing), if any. */
  route(line: Buffer, head: Intent | undefined, scope: SessionScope): Promise<void> | undefined {
    const reply = this.replies.classify(line);
    const code = reply.code;
    if (code !== undefined && reply.last) this.onReply(code);
    if (code === undefined) {
      scope.send(line);
      return undefined;
    }
    if ((head?.kind === 'passive' || head?.kind === 'active') && (this.heldReply.length > 0 || code === 227 || code === 229)) {
      this.heldReply.push(line);
      this.heldBytes += line.length;
      if (this.heldReply.length > MAX_HELD_REPLY_LINES || this.heldBytes > MAX_HELD_REPLY_BYTES) {
        const held = { lines: this.heldReply.length, bytes: this.heldBytes };
        this.heldReply = [];
        this.heldBytes = 0;
        this.onOverflow(held);
        return undefined;
      }
      if (!reply.last) return undefined;
      const lines = this.heldReply;
      this.heldReply = [];
      this.heldBytes = 0;
      return answerDataSetupReply(head, code, lines, scope);
    }
    if (!reply.last) {
      if (head?.kind === 'feat') passFeatureLine(line, scope);
      else scope.send(line);
      return undefined;
    }
    if (isPreliminary(code) || head === undefined) {
      scope.send(line);
      return undefined;
    }
    if (head.kind === 'transfer') {
      if (isStatusReply(code) && scope.finishStatusDuringTransfer(line)) return undefined;
      return answerTransferReply(line, code, scope);
    }
    if (head.kind === 'feat') {
      finishFeatureReply(line, code, reply.first, scope);
      return undefined;
    }
    scope.finish(line);
    return undefined;
  }
}
