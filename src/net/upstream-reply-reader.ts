/**
 * Reads the server's replies while ftpmasq negotiates TLS with it (the greeting, 234, the two
 * 200s), before any session routes the connection. Framing and multi-line assembly are the
 * proxy's own (LineReader, ReplyTracker). `detach()` hands the stream back paused, so no byte
 * is lost between this reader and the session's channel.
 */
import type { Duplex } from 'node:stream';
import { LineReader, stripLineEnding } from '../protocol/line-reader.js';
import { ReplyTracker, isPreliminary } from '../protocol/reply-tracker.js';

export interface UpstreamReply {
  readonly code: number;
  /** The reply's lines as received, terminators included (preliminary replies before it too). */
  readonly lines: readonly Buffer[];
}

/** Why the upstream leg could not be made TLS; `untrusted` is a failed certificate check. */
export class UpstreamTlsError extends Error {
  constructor(
    message: string,
    readonly reason: 'untrusted' | 'handshake' | 'refused',
  ) {
    super(message);
    this.name = 'UpstreamTlsError';
  }
}

type Waiter = { resolve: (reply: UpstreamReply) => void; reject: (error: UpstreamTlsError) => void };

export class UpstreamReplyReader {
  private readonly reader = new LineReader();
  private readonly tracker = new ReplyTracker();
  private current: Buffer[] = [];
  private readonly ready: UpstreamReply[] = [];
  private waiter: Waiter | undefined;
  private failure: UpstreamTlsError | undefined;
  private readonly onData = (chunk: Buffer): void => this.push(chunk);
  private readonly onGone = (): void => this.fail(new UpstreamTlsError('the server closed the connection while TLS was negotiated', 'refused'));
  private readonly onError = (error: Error): void => this.fail(new UpstreamTlsError(`the connection to the server failed: ${error.message}`, 'refused'));

  constructor(private readonly stream: Duplex) {
    stream.on('data', this.onData);
    stream.on('end', this.onGone);
    stream.on('close', this.onGone);
    stream.on('error', this.onError);
  }

  /** The next final reply (1xx replies are kept in front of it, as a server may send 120 before 220). */
  next(timeoutMs: number): Promise<UpstreamReply> {
    const reply = this.ready.shift();
    if (reply !== undefined) return Promise.resolve(reply);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new UpstreamTlsError(`the server did not reply within ${Math.max(0, timeoutMs)} ms while TLS was negotiated`, 'refused'));
      }, Math.max(0, timeoutMs));
      this.waiter = {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  /** For an error message: the reply's last line, as text. */
  describe(reply: UpstreamReply): string {
    const last = reply.lines.at(-1);
    return last === undefined ? String(reply.code) : JSON.stringify(stripLineEnding(last).toString('latin1'));
  }

  /** Stops reading, leaves the stream paused, and returns what was read and not yet taken. */
  detach(): Buffer {
    this.stream.pause();
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onGone);
    this.stream.off('close', this.onGone);
    this.stream.off('error', this.onError);
    const leftover = [...this.ready.flatMap((reply) => reply.lines), ...this.current, this.reader.takePending() ?? Buffer.alloc(0)];
    return Buffer.concat(leftover);
  }

  private push(chunk: Buffer): void {
    const result = this.reader.push(chunk);
    for (const line of result.lines) {
      const classified = this.tracker.classify(line);
      if (classified.code === undefined) {
        this.fail(new UpstreamTlsError(`the server sent a line that is not an FTP reply: ${JSON.stringify(stripLineEnding(line).toString('latin1'))}`, 'refused'));
        return;
      }
      this.current.push(line);
      if (!classified.last || isPreliminary(classified.code)) continue;
      const reply: UpstreamReply = { code: classified.code, lines: this.current };
      this.current = [];
      const waiter = this.waiter;
      this.waiter = undefined;
      if (waiter === undefined) this.ready.push(reply);
      else waiter.resolve(reply);
    }
    if (!result.ok) this.fail(new UpstreamTlsError('the server sent a reply line that is too long', 'refused'));
  }

  private fail(error: UpstreamTlsError): void {
    this.failure ??= error;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.reject(this.failure);
  }
}
