import { StringDecoder } from 'node:string_decoder';

/**
 * The framing of a long-lived `nft -j -i` (nft-session.ts). Pure: chunks of the child's output in,
 * whole replies out.
 *
 * nft's interactive mode runs each input line as its own command and prints nothing when an add
 * or a delete succeeds, so a reply has no end of its own. Each request line is therefore followed
 * by SENTINEL_COMMAND, `describe meta mark`: nft answers it in user space (no netlink, no cache)
 * with one fixed line on stdout. nft's standard error is the same pipe as its standard output
 * (`2>&1`), and nft flushes a command's output before it reads the next line, so everything a
 * request printed (a listing, an error) comes before its sentinel's line, and nothing after.
 */
export const SENTINEL_COMMAND = 'describe meta mark';

/** nft 1.0.6: `meta expression, datatype mark (packet mark) (basetype integer), 32 bits`. */
export function isSentinelLine(line: string): boolean {
  return line.startsWith('meta expression, datatype mark');
}

/** What nft printed for one request: its output lines, the sentinel's excluded. */
export interface NftReply {
  readonly text: string;
  /** nft's messages of a failed command (`internal:0:0-0: Error: ...`), in order; empty when it succeeded. */
  readonly errors: readonly string[];
}

const ERROR_LINE = /(^|: )Error: /;

/** A reply's lines as a reply: the error lines are the ones that say `Error:`. */
export function toReply(lines: readonly string[]): NftReply {
  return { text: lines.length === 0 ? '' : `${lines.join('\n')}\n`, errors: lines.filter((line) => ERROR_LINE.test(line)) };
}

/**
 * Cuts nft's output into replies at each sentinel line, keeping a partial line between chunks.
 * Bounded: a reply (or a line) longer than `maxReplyBytes` is an overflow, after which the
 * framer is spent (its owner kills the process, whose output can no longer be matched).
 */
export class NftReplyFramer {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';
  private lines: string[] = [];
  private size = 0;
  private overflowed = false;

  constructor(private readonly maxReplyBytes: number) {}

  /** The replies completed by this chunk, in order; `overflow` once a reply grew past the bound. */
  push(chunk: Buffer): { readonly replies: readonly NftReply[]; readonly overflow: boolean } {
    if (this.overflowed) return { replies: [], overflow: true };
    const replies: NftReply[] = [];
    const text = this.partial + this.decoder.write(chunk);
    const pieces = text.split('\n');
    this.partial = pieces.pop() ?? '';
    for (const line of pieces) {
      if (isSentinelLine(line)) {
        replies.push(toReply(this.lines));
        this.lines = [];
        this.size = 0;
      } else {
        this.lines.push(line);
        this.size += line.length + 1;
      }
    }
    this.overflowed = this.size + this.partial.length > this.maxReplyBytes;
    return { replies, overflow: this.overflowed };
  }

  /** What the current request has printed so far, for the message when nft dies or hangs in it. */
  pending(): string {
    return [...this.lines, this.partial].filter((line) => line.trim() !== '').slice(0, 3).join(' | ');
  }
}
