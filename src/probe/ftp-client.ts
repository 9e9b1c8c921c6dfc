/**
 * A minimal FTP client over raw sockets, for `ftpmasq probe` and the client side of
 * `ftpmasq demo`. It reuses the proxy's own framing (LineReader) and reply assembly
 * (ReplyTracker), so multi-line replies (RFC 959 section 4.2) are read the same way ftpmasq
 * reads them. It never decides where to connect: callers choose every address it dials.
 */
import type net from 'node:net';
import { dial } from '../net/dial.js';
import { LineReader, stripLineEnding } from '../protocol/line-reader.js';
import { ReplyTracker, isPreliminary } from '../protocol/reply-tracker.js';

export interface FtpReply {
  readonly code: number;
  /** The reply's lines as received, terminators included. */
  readonly lines: readonly Buffer[];
}

/** The reply's lines as text (latin1: only for display and for the ASCII we parse). */
export function replyLines(reply: FtpReply): string[] {
  return reply.lines.map((line) => stripLineEnding(line).toString('latin1'));
}

/** The last line of a reply: the one a one-line summary shows. */
export function replySummary(reply: FtpReply): string {
  return replyLines(reply).at(-1) ?? String(reply.code);
}

export class FtpClientError extends Error {
  constructor(
    message: string,
    /** `data` is the data connection's failure; the others are the control connection's. */
    readonly code: 'timeout' | 'closed' | 'bad-reply' | 'line-too-long' | 'socket' | 'data',
  ) {
    super(message);
    this.name = 'FtpClientError';
  }
}

type Waiter = { resolve: (reply: FtpReply) => void; reject: (error: FtpClientError) => void };

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  /** How long to wait for each reply. */
  readonly replyTimeoutMs: number;
}

/** One control connection. Owns its socket; `close()` is idempotent. */
export class FtpControlClient {
  private readonly reader = new LineReader();
  private readonly tracker = new ReplyTracker();
  private current: Buffer[] = [];
  private readonly replies: FtpReply[] = [];
  private readonly waiters: Waiter[] = [];
  private failure: FtpClientError | undefined;

  private constructor(
    private readonly socket: net.Socket,
    private readonly replyTimeoutMs: number,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(new FtpClientError(`control connection failed: ${error.message}`, 'socket')));
    socket.on('close', () => this.fail(new FtpClientError('the server closed the control connection', 'closed')));
  }

  static async connect(options: ConnectOptions): Promise<FtpControlClient> {
    const socket = await dial({
      host: options.host,
      port: options.port,
      timeoutMs: options.connectTimeoutMs,
      allowHalfOpen: false,
    });
    return new FtpControlClient(socket, options.replyTimeoutMs);
  }

  /** The server's address of this control connection: the address a careful client uses for data. */
  get remoteAddress(): string {
    return this.socket.remoteAddress ?? '';
  }

  get localAddress(): string {
    return this.socket.localAddress ?? '';
  }

  /** The next complete reply, preliminary (1xx) ones included. */
  readReply(timeoutMs = this.replyTimeoutMs): Promise<FtpReply> {
    const ready = this.replies.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index !== -1) this.waiters.splice(index, 1);
        reject(new FtpClientError(`no reply within ${timeoutMs} ms`, 'timeout'));
      }, timeoutMs);
      const waiter: Waiter = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends one command line (CRLF added). */
  send(command: string): void {
    if (this.failure !== undefined) throw this.failure;
    this.socket.write(`${command}\r\n`, 'latin1');
  }

  /** Sends a command and returns its reply; a preliminary reply is returned as is. */
  async command(command: string): Promise<FtpReply> {
    this.send(command);
    return this.readReply();
  }

  /** QUIT, waiting briefly for the 221, then close. Never throws. */
  async quit(timeoutMs = 2000): Promise<void> {
    try {
      this.send('QUIT');
      await this.readReply(timeoutMs);
    } catch {
      // The session is ending either way.
    }
    this.close();
  }

  close(): void {
    this.socket.destroy();
    this.fail(new FtpClientError('the client closed the control connection', 'closed'));
  }

  private onData(chunk: Buffer): void {
    const result = this.reader.push(chunk);
    for (const line of result.lines) {
      const classified = this.tracker.classify(line);
      if (classified.code === undefined) {
        this.fail(new FtpClientError(`not an FTP reply: ${JSON.stringify(stripLineEnding(line).toString('latin1'))}`, 'bad-reply'));
        this.socket.destroy();
        return;
      }
      this.current.push(line);
      if (!classified.last) continue;
      const reply: FtpReply = { code: classified.code, lines: this.current };
      this.current = [];
      const waiter = this.waiters.shift();
      if (waiter === undefined) this.replies.push(reply);
      else waiter.resolve(reply);
    }
    if (!result.ok) {
      this.fail(new FtpClientError(`a reply line is longer than ${this.reader.maxLineBytes} bytes`, 'line-too-long'));
      this.socket.destroy();
    }
  }

  private fail(error: FtpClientError): void {
    this.failure ??= error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(this.failure);
  }
}

export interface TransferResult {
  /** The reply to the transfer command: 150/125, or a refusal such as 425 or 550. */
  readonly first: FtpReply;
  /** The final reply (226 ...), when the first one was preliminary. */
  readonly final: FtpReply | undefined;
  readonly data: Buffer;
}

/**
 * Runs one transfer command over an already connected passive data socket (which this function
 * then owns). Done only when both the final reply has arrived and the data stream has ended,
 * in either order.
 */
export async function receiveOverData(
  client: FtpControlClient,
  command: string,
  dataSocket: net.Socket,
  timeoutMs: number,
): Promise<TransferResult> {
  const chunks: Buffer[] = [];
  let timer: NodeJS.Timeout | undefined;
  const dataDone = new Promise<Buffer>((resolve, reject) => {
    dataSocket.on('data', (chunk: Buffer) => chunks.push(chunk));
    dataSocket.once('end', () => resolve(Buffer.concat(chunks)));
    dataSocket.once('error', (error) => reject(new FtpClientError(`data connection failed: ${error.message}`, 'data')));
    dataSocket.once('close', () => resolve(Buffer.concat(chunks)));
  });
  dataDone.catch(() => undefined);
  const bounded = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FtpClientError(`${command} did not finish within ${timeoutMs} ms`, 'timeout')), timeoutMs);
  });
  try {
    const first = await Promise.race([client.command(command), bounded]);
    if (!isPreliminary(first.code)) {
      return { first, final: undefined, data: Buffer.alloc(0) };
    }
    const [final, data] = await Promise.race([Promise.all([client.readReply(timeoutMs), dataDone]), bounded]);
    return { first, final, data };
  } finally {
    clearTimeout(timer);
    dataSocket.destroy();
  }
}
