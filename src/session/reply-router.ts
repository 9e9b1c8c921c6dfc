import { ReplyTracker, isPreliminary } from '../protocol/reply-tracker.js';
import { finishFeatureReply, passFeatureLine } from './handlers/features.js';
import { answerDataSetupReply } from './handlers/passive.js';
import type { SessionScope } from './handlers/scope.js';
import { answerTransferReply } from './handlers/transfer.js';
import type { Intent } from './intents.js';

/**
 * Routes each upstream line by the intent at the head of the queue (RFC 959 multi-line replies
 * framed by a ReplyTracker): a 227/229 to the passive or active handler, a FEAT line through the
 * feature filter, a transfer's final reply to the gate, anything else to the client unchanged.
 */
export class ReplyRouter {
  private readonly replies = new ReplyTracker();
  /** Lines of a 227/229 reply held until its last line, to be answered as one. */
  private heldReply: Buffer[] = [];

  /** `onReply`: the last line of each reply, with its code, before it is routed. */
  constructor(private readonly onReply: (code: number) => void) {}

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
      if (!reply.last) return undefined;
      const lines = this.heldReply;
      this.heldReply = [];
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
    if (head.kind === 'transfer') return answerTransferReply(line, code, scope);
    if (head.kind === 'feat') {
      finishFeatureReply(line, code, reply.first, scope);
      return undefined;
    }
    scope.finish(line);
    return undefined;
  }
}
