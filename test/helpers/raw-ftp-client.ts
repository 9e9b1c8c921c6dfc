/**
 * A small FTP client over raw sockets for the integration tier.
 *
 * - Replies are framed with ftpmasq's own LineReader and ReplyTracker (RFC 959 multi-line), and
 *   kept as the exact bytes received, so tests can assert byte-identity.
 * - Commands are bytes: a file name may be UTF-8 or Shift_JIS. Several commands can go out in one
 *   write (pipelining).
 * - Like curl before 7.74 (and ftplib before 3.6.13), it TRUSTS the address inside a 227 and
 *   connects to it. The integration tier may reach only loopback, so a 227 naming any other
 *   address fails the test instead of being dialled.
 * - Active mode: listens on 127.0.0.x:0 and sends PORT or EPRT.
 * - Every reply line, data EOF and control EOF is recorded in `events`, in arrival order, so a
 *   test can assert that a transfer's data ended before its final reply.
 *
 * Every wait is bounded: a test that goes wrong fails with the transcript, it never hangs.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { LineReader } from '../../src/protocol/line-reader.js';
import { ReplyTracker } from '../../src/protocol/reply-tracker.js';

export const DEFAULT_WAIT_MS = 5000;

export type ClientEvent =
  | { readonly kind: 'reply-line'; readonly line: Buffer; readonly code: number | undefined; readonly last: boolean }
  | { readonly kind: 'data-end'; readonly label: string; readonly bytes: number }
  | { readonly kind: 'control-end' };

export interface Reply {
  /** The reply code; undefined for a line that is not a reply (no three-digit code). */
  readonly code: number | undefined;
  /** Every line of the reply, terminators included, as received. */
  readonly lines: readonly Buffer[];
  /** The lines concatenated. */
  readonly raw: Buffer;
  /** `raw` as latin1, for assertions on the ASCII parts. */
  readonly text: string;
}

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

export interface PassiveTarget extends Endpoint {
  readonly reply: Reply;
}

export interface TransferResult {
  readonly setup: Reply;
  readonly preliminary: Reply;
  readonly final: Reply;
  readonly data: Buffer;
}

export type TransferMode = 'pasv' | 'epsv' | 'port' | 'eprt';

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Rejects after `ms` with `describe()`'s message, so a stuck wait names what it waited for. */
export function withTimeout<T>(promise: Promise<T>, ms: number, describe: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${describe()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `condition` every 10 ms until it holds; fails with `describe()` after `ms`. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  ms: number,
  describe: () => string,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms: ${describe()}`);
    await delay(10);
  }
}

/** The integration tier's network rule: only loopback (127.0.0.0/8, ::1) is ever dialled. */
export function assertLoopback(host: string): void {
  if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) && host !== '::1') {
    throw new Error(`refusing to dial ${host}: the integration tests connect only to loopback (127.0.0.0/8, ::1)`);
  }
}

/** A command line as bytes: the verb, a space and the argument bytes (never re-encoded), CRLF. */
export function commandLine(verb: string, argument?: string | Buffer, lineEnd = '\r\n'): Buffer {
  const parts: Buffer[] = [Buffer.from(verb, 'latin1')];
  if (argument !== undefined) {
    parts.push(Buffer.from(' ', 'latin1'));
    parts.push(typeof argument === 'string' ? Buffer.from(argument, 'utf8') : argument);
  }
  parts.push(Buffer.from(lineEnd, 'latin1'));
  return Buffer.concat(parts);
}

function toLine(command: string | Buffer): Buffer {
  if (typeof command !== 'string') return command;
  return Buffer.from(command.endsWith('\n') ? command : `${command}\r\n`, 'utf8');
}

/**
 * The address in a 227 the way curl before 7.74 read it: the first place after the code where six
 * comma-separated numbers start (sscanf "%u,%u,%u,%u,%u,%u": blanks allowed before each number).
 * Deliberately independent of ftpmasq's own parse227, so the test does not share its bugs.
 */
export function trust227(reply: Reply): Endpoint {
  const text = reply.text.slice(4);
  for (let i = 0; i < text.length; i++) {
    const match = /^\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+),\s*(\d+)/.exec(text.slice(i));
    if (match === null) continue;
    const n = match.slice(1, 7).map(Number);
    const [a = 0, b = 0, c = 0, d = 0, p1 = 0, p2 = 0] = n;
    return { host: `${a}.${b}.${c}.${d}`, port: p1 * 256 + p2 };
  }
  throw new Error(`no address in 227 reply: ${JSON.stringify(reply.text)}`);
}

/** The port in a 229 `(|||port|)` reply, any RFC 2428 delimiter. */
export function port229(reply: Reply): number {
  const match = /\(([!-~])\1\1(\d{1,5})\1\)/.exec(reply.text);
  if (match === null) throw new Error(`no (|||port|) in 229 reply: ${JSON.stringify(reply.text)}`);
  return Number(match[2]);
}

/** One data connection, dialled (passive) or accepted (active). Reading starts at once. */
export class DataConnection {
  private readonly chunks: Buffer[] = [];
  private receivedBytes = 0;
  /** Every byte received, once the peer sent EOF. Rejects if the socket fails first. */
  readonly ended: Promise<Buffer>;
  readonly closed: Promise<void>;
  private endedFlag = false;

  constructor(
    readonly socket: net.Socket,
    readonly label: string,
    record: (event: ClientEvent) => void,
  ) {
    this.ended = new Promise((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        this.chunks.push(chunk);
        this.receivedBytes += chunk.length;
      });
      socket.on('end', () => {
        this.endedFlag = true;
        record({ kind: 'data-end', label, bytes: this.receivedBytes });
        resolve(Buffer.concat(this.chunks));
      });
      socket.on('close', () => {
        if (!this.endedFlag) reject(new Error(`data connection ${label} closed without EOF after ${this.receivedBytes} bytes`));
      });
    });
    this.ended.catch(() => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => undefined);
  }

  get bytesReceived(): number {
    return this.receivedBytes;
  }

  get hasEnded(): boolean {
    return this.endedFlag;
  }

  /** Writes everything and half-closes (FIN): the end of an upload. */
  upload(content: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.end(content, () => resolve());
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  static connect(endpoint: Endpoint, label: string, record: (event: ClientEvent) => void, localAddress?: string): Promise<DataConnection> {
    assertLoopback(endpoint.host);
    return new Promise((resolve, reject) => {
      const socket = net.connect({
        host: endpoint.host,
        port: endpoint.port,
        ...(localAddress === undefined ? {} : { localAddress }),
      });
      const connection = new DataConnection(socket, label, record);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`data connect to ${endpoint.host}:${endpoint.port} timed out`));
      }, DEFAULT_WAIT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(connection);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }
}

/** A listening socket for active mode (PORT/EPRT): the proxy connects to it. */
export class ActiveListener {
  readonly accepted: DataConnection[] = [];
  private readonly waiters: Array<(connection: DataConnection) => void> = [];
  /** How many connections nextConnection() has handed out or promised. */
  private waitedFor = 0;

  private constructor(
    private readonly server: net.Server,
    readonly host: string,
    readonly port: number,
  ) {}

  static async open(host: string, record: (event: ClientEvent) => void): Promise<ActiveListener> {
    assertLoopback(host);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: 0 }, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('active listener has no address');
    const listener = new ActiveListener(server, host, address.port);
    server.on('connection', (socket) => {
      const connection = new DataConnection(socket, `active:${address.port}`, record);
      listener.accepted.push(connection);
      listener.waiters.shift()?.(connection);
    });
    return listener;
  }

  /** `h1,h2,h3,h4,p1,p2` for PORT. */
  get portArgument(): string {
    return `${this.host.split('.').join(',')},${this.port >> 8},${this.port & 0xff}`;
  }

  /** `|1|host|port|` for EPRT. */
  get eprtArgument(): string {
    return `|1|${this.host}|${this.port}|`;
  }

  nextConnection(timeoutMs = DEFAULT_WAIT_MS): Promise<DataConnection> {
    const ready = this.accepted[this.waitedFor];
    if (ready !== undefined) {
      this.waitedFor++;
      return Promise.resolve(ready);
    }
    this.waitedFor++;
    return withTimeout(
      new Promise<DataConnection>((resolve) => this.waiters.push(resolve)),
      timeoutMs,
      () => `no active data connection on ${this.host}:${this.port}`,
    );
  }

  close(): Promise<void> {
    for (const connection of this.accepted) connection.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export interface ConnectOptions {
  readonly localAddress?: string;
}

export class RawFtpClient {
  readonly events: ClientEvent[] = [];
  /** Every control byte received, in order. */
  private readonly receivedChunks: Buffer[] = [];
  private readonly reader = new LineReader();
  private readonly tracker = new ReplyTracker();
  private readonly replies: Reply[] = [];
  private replyLines: Buffer[] = [];
  private readonly waiters: Array<() => void> = [];
  private readonly dataConnections = new Set<DataConnection>();
  private readonly listeners = new Set<ActiveListener>();
  private endedFlag = false;
  private closedFlag = false;
  private framingError: string | undefined;
  /** Resolves when the proxy ends or resets the control connection. */
  readonly closed: Promise<void>;
  socketError: Error | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => {
      this.endedFlag = true;
      this.events.push({ kind: 'control-end' });
      this.wake();
    });
    socket.on('error', (error) => {
      this.socketError = error;
    });
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closedFlag = true;
        this.wake();
        resolve();
      }),
    );
  }

  static connect(endpoint: Endpoint, options: ConnectOptions = {}): Promise<RawFtpClient> {
    assertLoopback(endpoint.host);
    return new Promise((resolve, reject) => {
      const socket = net.connect({
        host: endpoint.host,
        port: endpoint.port,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      });
      socket.setNoDelay(true);
      const client = new RawFtpClient(socket);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`control connect to ${endpoint.host}:${endpoint.port} timed out`));
      }, DEFAULT_WAIT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(client);
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** Connects and reads the greeting, which must be a 220. */
  static async open(endpoint: Endpoint, options: ConnectOptions = {}): Promise<RawFtpClient> {
    const client = await RawFtpClient.connect(endpoint, options);
    await client.expectReply(220);
    return client;
  }

  get hasEnded(): boolean {
    return this.endedFlag;
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Every control byte received so far. */
  receivedBytes(): Buffer {
    return Buffer.concat(this.receivedChunks);
  }

  /** Replies received and not yet read. */
  get unreadReplies(): number {
    return this.replies.length;
  }

  transcript(): string {
    return this.events
      .map((event) => {
        switch (event.kind) {
          case 'reply-line':
            return `< ${JSON.stringify(event.line.toString('latin1'))}`;
          case 'data-end':
            return `  [data EOF ${event.label} after ${event.bytes} bytes]`;
          case 'control-end':
            return '  [control EOF]';
        }
      })
      .join('\n');
  }

  /** Index in `events` of the first event matching `predicate`, or -1. */
  indexOfEvent(predicate: (event: ClientEvent) => boolean): number {
    return this.events.findIndex(predicate);
  }

  /** Index of the first reply line whose code is `code` (and is a reply's last line). */
  indexOfReply(code: number): number {
    return this.indexOfEvent((event) => event.kind === 'reply-line' && event.code === code && event.last);
  }

  private onData(chunk: Buffer): void {
    this.receivedChunks.push(chunk);
    const result = this.reader.push(chunk);
    for (const line of result.lines) {
      const classified = this.tracker.classify(line);
      this.events.push({ kind: 'reply-line', line, code: classified.code, last: classified.last });
      this.replyLines.push(line);
      if (classified.last) {
        const lines = this.replyLines;
        this.replyLines = [];
        const raw = Buffer.concat(lines);
        this.replies.push({ code: classified.code, lines, raw, text: raw.toString('latin1') });
      }
    }
    if (!result.ok) this.framingError = 'the proxy sent a line over 8 KiB';
    this.wake();
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Writes one or more command lines in a single write; strings without a line end get CRLF. */
  send(...commands: Array<string | Buffer>): void {
    this.socket.write(Buffer.concat(commands.map(toLine)));
  }

  /** Writes bytes exactly as given. */
  writeRaw(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** The next complete reply. Rejects when the connection ends first or after `timeoutMs`. */
  async readReply(timeoutMs = DEFAULT_WAIT_MS): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = this.replies.shift();
      if (reply !== undefined) return reply;
      if (this.framingError !== undefined) throw new Error(`${this.framingError}\n${this.transcript()}`);
      if (this.endedFlag || this.closedFlag) {
        throw new Error(`control connection ended while a reply was awaited\n${this.transcript()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms\n${this.transcript()}`);
      await withTimeout(
        new Promise<void>((resolve) => this.waiters.push(resolve)),
        left,
        () => `no reply\n${this.transcript()}`,
      );
    }
  }

  async readReplies(count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (let i = 0; i < count; i++) replies.push(await this.readReply(timeoutMs));
    return replies;
  }

  /** The next reply, which must carry `code`. */
  async expectReply(code: number, timeoutMs = DEFAULT_WAIT_MS): Promise<Reply> {
    const reply = await this.readReply(timeoutMs);
    if (reply.code !== code) {
      throw new Error(`expected a ${code} reply, got ${JSON.stringify(reply.text)}\n${this.transcript()}`);
    }
    return reply;
  }

  async command(command: string | Buffer, timeoutMs = DEFAULT_WAIT_MS): Promise<Reply> {
    this.send(command);
    return this.readReply(timeoutMs);
  }

  async login(user = 'scott', password = 'tiger'): Promise<void> {
    this.send(`USER ${user}`);
    await this.expectReply(331);
    this.send(`PASS ${password}`);
    await this.expectReply(230);
  }

  /** Resolves when the control connection has ended (EOF or reset). */
  waitForClose(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return withTimeout(this.closed, timeoutMs, () => `control connection still open\n${this.transcript()}`);
  }

  private record = (event: ClientEvent): void => {
    this.events.push(event);
  };

  /** PASV, then the data connection to the address the 227 names (trusted, like old curl). */
  async pasv(): Promise<PassiveTarget> {
    const reply = await this.command('PASV');
    if (reply.code !== 227) throw new Error(`PASV answered ${JSON.stringify(reply.text)}`);
    return { reply, ...trust227(reply) };
  }

  /** EPSV: the data connection goes to the control connection's peer address (RFC 2428). */
  async epsv(): Promise<PassiveTarget> {
    const reply = await this.command('EPSV');
    if (reply.code !== 229) throw new Error(`EPSV answered ${JSON.stringify(reply.text)}`);
    const host = this.socket.remoteAddress ?? '';
    return { reply, host, port: port229(reply) };
  }

  async connectData(endpoint: Endpoint, localAddress?: string): Promise<DataConnection> {
    const connection = await DataConnection.connect(endpoint, `${endpoint.host}:${endpoint.port}`, this.record, localAddress);
    this.dataConnections.add(connection);
    return connection;
  }

  async listenActive(host = '127.0.0.1'): Promise<ActiveListener> {
    const listener = await ActiveListener.open(host, this.record);
    this.listeners.add(listener);
    return listener;
  }

  /**
   * Sets up a data connection in `mode` and returns what the transfer command needs: the setup
   * reply and a way to get the data connection once it exists.
   */
  private async prepareData(mode: TransferMode): Promise<{ setup: Reply; data: () => Promise<DataConnection> }> {
    switch (mode) {
      case 'pasv':
      case 'epsv': {
        const target = mode === 'pasv' ? await this.pasv() : await this.epsv();
        const connection = await this.connectData(target);
        return { setup: target.reply, data: () => Promise.resolve(connection) };
      }
      case 'port':
      case 'eprt': {
        const listener = await this.listenActive();
        const setup =
          mode === 'port'
            ? await this.command(`PORT ${listener.portArgument}`)
            : await this.command(`EPRT ${listener.eprtArgument}`);
        if (setup.code !== 200) throw new Error(`${mode.toUpperCase()} answered ${JSON.stringify(setup.text)}`);
        return { setup, data: () => listener.nextConnection() };
      }
    }
  }

  /** RETR (or LIST/NLST/MLSD with `verb`): the data received, the replies, in any order of arrival. */
  async retrieve(argument: string | Buffer | undefined, options: { mode?: TransferMode; verb?: string } = {}): Promise<TransferResult> {
    const { setup, data } = await this.prepareData(options.mode ?? 'pasv');
    this.send(commandLine(options.verb ?? 'RETR', argument));
    const preliminary = await this.readReply();
    if (preliminary.code !== 150 && preliminary.code !== 125) {
      throw new Error(`transfer refused: ${JSON.stringify(preliminary.text)}\n${this.transcript()}`);
    }
    const connection = await data();
    const [content, final] = await Promise.all([
      withTimeout(connection.ended, DEFAULT_WAIT_MS * 2, () => `no data EOF\n${this.transcript()}`),
      this.readReply(DEFAULT_WAIT_MS * 2),
    ]);
    return { setup, preliminary, final, data: content };
  }

  async list(verb: 'LIST' | 'NLST' | 'MLSD', mode: TransferMode = 'pasv'): Promise<TransferResult> {
    return this.retrieve(undefined, { mode, verb });
  }

  /** STOR: the content is written and the data connection half-closed; then the final reply. */
  async store(argument: string | Buffer, content: Buffer, options: { mode?: TransferMode; verb?: string } = {}): Promise<TransferResult> {
    const { setup, data } = await this.prepareData(options.mode ?? 'pasv');
    this.send(commandLine(options.verb ?? 'STOR', argument));
    const preliminary = await this.readReply();
    if (preliminary.code !== 150 && preliminary.code !== 125) {
      throw new Error(`upload refused: ${JSON.stringify(preliminary.text)}\n${this.transcript()}`);
    }
    const connection = await data();
    await connection.upload(content);
    const final = await this.readReply(DEFAULT_WAIT_MS * 2);
    return { setup, preliminary, final, data: Buffer.alloc(0) };
  }

  async quit(): Promise<void> {
    await this.expectReplyTo('QUIT', 221);
    await this.waitForClose();
  }

  async expectReplyTo(command: string | Buffer, code: number): Promise<Reply> {
    this.send(command);
    return this.expectReply(code);
  }

  /** Destroys the control connection, every data connection and every active listener. */
  async close(): Promise<void> {
    this.socket.destroy();
    for (const connection of this.dataConnections) connection.destroy();
    await Promise.all([...this.listeners].map((listener) => listener.close()));
  }
}
