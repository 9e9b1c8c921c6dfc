/**
 * A tiny upstream FTP server whose every reply a test scripts, for the servers LegacyFtpServer
 * cannot play: a 226 sent before the data connection closes, a multi-line 227, a 227 without
 * parentheses, an overlong line, an upstream that closes mid-session or never answers.
 *
 * Each accepted control connection runs the script given to `start()`. The script reads the
 * commands the proxy forwards (exact bytes) and writes whatever bytes it likes. Listens on
 * 127.0.0.1 only.
 *
 * ftpmasq's readiness check dials the upstream when the daemon starts (and every 10 s) and hangs
 * up at once without a byte: `nextSession()` skips such probe connections.
 */
import net from 'node:net';
import { DEFAULT_WAIT_MS, delay, withTimeout } from './raw-ftp-client.js';

/** Thrown to a script waiting for a command when the proxy closes the connection: not a failure. */
export class UpstreamClosedError extends Error {
  constructor() {
    super('the proxy closed the upstream control connection');
    this.name = 'UpstreamClosedError';
  }
}

export type Script = (connection: UpstreamConnection) => Promise<void> | void;

/** What a `serve()` responder returns: bytes to write, or undefined to stay silent. */
export type Responder = (verb: string, line: Buffer) => string | Buffer | undefined | Promise<string | Buffer | undefined>;

/** The verb of a command line: ASCII up to the first space or line end, upper-cased. */
export function verbOf(line: Buffer): string {
  const text = line.toString('latin1').replace(/\r?\n$/, '');
  const space = text.indexOf(' ');
  return (space === -1 ? text : text.slice(0, space)).toUpperCase();
}

/**
 * One data connection accepted by the scripted upstream. Reading starts at once, so EOF is seen
 * even when the script does not read: `hungUp` resolves when the proxy sends FIN or the socket
 * closes, whichever comes first.
 */
export class UpstreamDataSocket {
  private readonly chunks: Buffer[] = [];
  private endedFlag = false;
  /** Every byte received, at EOF; rejects if the socket closes without EOF (a reset). */
  readonly ended: Promise<Buffer>;
  readonly closed: Promise<void>;
  readonly hungUp: Promise<void>;

  constructor(readonly socket: net.Socket) {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => this.chunks.push(chunk));
    this.ended = new Promise((resolve, reject) => {
      socket.on('end', () => {
        this.endedFlag = true;
        resolve(Buffer.concat(this.chunks));
      });
      socket.on('close', () => {
        if (!this.endedFlag) reject(new Error(`upstream data socket closed without EOF after ${this.bytesReceived} bytes`));
      });
    });
    this.ended.catch(() => undefined);
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    this.hungUp = Promise.race([this.ended.then(() => undefined, () => undefined), this.closed]);
  }

  get hasEnded(): boolean {
    return this.endedFlag;
  }

  /**
   * Reads slowly: after each chunk, stops reading for `gapMs`. A slow reader keeps the proxy's
   * socket buffers full and its backpressure path busy while the client's end arrives.
   */
  readSlowly(gapMs: number): void {
    this.socket.on('data', () => {
      this.socket.pause();
      setTimeout(() => this.socket.resume(), gapMs);
    });
  }

  get bytesReceived(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  /** Writes and, when `end`, half-closes; resolves once flushed. */
  send(bytes: Buffer, options: { end: boolean }): Promise<void> {
    return new Promise((resolve) => {
      if (options.end) this.socket.end(bytes, () => resolve());
      else this.socket.write(bytes, () => resolve());
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A passive data port of the scripted upstream: listening on 127.0.0.1. */
export class UpstreamDataPort {
  private readonly firstSocket: Promise<UpstreamDataSocket>;
  /** Every connection accepted (a second one would be a bug in the proxy). */
  readonly connections: UpstreamDataSocket[] = [];

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {
    this.firstSocket = new Promise((resolve) => {
      server.on('connection', (socket: net.Socket) => {
        const connection = new UpstreamDataSocket(socket);
        this.connections.push(connection);
        if (this.connections.length === 1) resolve(connection);
      });
    });
  }

  static async open(options: { allowHalfOpen: boolean }): Promise<UpstreamDataPort> {
    const server = net.createServer({ allowHalfOpen: options.allowHalfOpen });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('data port has no address');
    return new UpstreamDataPort(server, address.port);
  }

  /** `h1,h2,h3,h4,p1,p2` naming `host` (what the upstream claims) and this port. */
  tuple(host = '10.0.11.251'): string {
    return `${host.split('.').join(',')},${this.port >> 8},${this.port & 0xff}`;
  }

  /** The first data connection. */
  accept(timeoutMs = DEFAULT_WAIT_MS): Promise<UpstreamDataSocket> {
    return withTimeout(this.firstSocket, timeoutMs, () => `no data connection to upstream port ${this.port}`);
  }

  close(): void {
    this.server.close();
    for (const connection of this.connections) connection.destroy();
  }
}

export class UpstreamConnection {
  /** Every command line received, exact bytes. */
  readonly commands: Buffer[] = [];
  private readonly chunks: Buffer[] = [];
  private tail = Buffer.alloc(0);
  private readIndex = 0;
  private readonly waiters: Array<() => void> = [];
  private endedFlag = false;
  private closedFlag = false;
  readonly ended: Promise<void>;
  readonly closed: Promise<void>;
  readonly dataPorts: UpstreamDataPort[] = [];

  constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk);
      let buffer = Buffer.concat([this.tail, chunk]);
      for (let newline = buffer.indexOf(0x0a); newline !== -1; newline = buffer.indexOf(0x0a)) {
        this.commands.push(buffer.subarray(0, newline + 1));
        buffer = buffer.subarray(newline + 1);
      }
      this.tail = buffer;
      this.wake();
    });
    this.ended = new Promise((resolve) =>
      socket.on('end', () => {
        this.endedFlag = true;
        this.wake();
        resolve();
      }),
    );
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closedFlag = true;
        this.wake();
        resolve();
      }),
    );
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Every byte received on the control connection. */
  receivedBytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** The verbs received so far, in order. */
  verbs(): string[] {
    return this.commands.map(verbOf);
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The next command line. Throws UpstreamClosedError when the proxy hangs up first. */
  async readCommand(timeoutMs = DEFAULT_WAIT_MS): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.commands[this.readIndex];
      if (line !== undefined) {
        this.readIndex++;
        return line;
      }
      if (this.endedFlag || this.closedFlag) throw new UpstreamClosedError();
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`upstream: no command within ${timeoutMs} ms`);
      await withTimeout(new Promise<void>((resolve) => this.waiters.push(resolve)), left, () => 'upstream: no command');
    }
  }

  /** The next command, which must have `verb`. */
  async expectCommand(verb: string, timeoutMs = DEFAULT_WAIT_MS): Promise<Buffer> {
    const line = await this.readCommand(timeoutMs);
    if (verbOf(line) !== verb) throw new Error(`upstream expected ${verb}, got ${JSON.stringify(line.toString('latin1'))}`);
    return line;
  }

  /** Writes bytes exactly as given (the script includes the line ends). */
  write(bytes: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Writes one byte at a time, each in its own TCP segment, `gapMs` apart. */
  async writeByteByByte(bytes: string | Buffer, gapMs = 1): Promise<void> {
    const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    for (let i = 0; i < buffer.length; i++) {
      if (this.socket.destroyed) return;
      this.socket.write(buffer.subarray(i, i + 1));
      await delay(gapMs);
    }
  }

  /** Greets and accepts USER/PASS. */
  async greetAndLogin(greeting = '220 scripted upstream ready\r\n'): Promise<void> {
    this.write(greeting);
    await this.expectCommand('USER');
    this.write('331 Password required\r\n');
    await this.expectCommand('PASS');
    this.write('230 Logged in\r\n');
  }

  /**
   * Answers commands until the proxy hangs up: `responder` first, then the defaults (NOOP 200,
   * TYPE 200, QUIT 221 and close, anything else 502).
   */
  async serve(responder: Responder = () => undefined): Promise<void> {
    for (;;) {
      const line = await this.readCommand(60_000);
      const verb = verbOf(line);
      const answer = await responder(verb, line);
      if (answer !== undefined) {
        this.write(answer);
        continue;
      }
      switch (verb) {
        case 'NOOP':
          this.write('200 NOOP ok\r\n');
          break;
        case 'TYPE':
          this.write('200 Type set\r\n');
          break;
        case 'QUIT':
          this.write('221 Goodbye\r\n');
          this.socket.end();
          return;
        default:
          this.write(`502 ${verb} not implemented\r\n`);
      }
    }
  }

  /** A new passive data port on 127.0.0.1. */
  async openDataPort(options: { allowHalfOpen?: boolean } = {}): Promise<UpstreamDataPort> {
    const port = await UpstreamDataPort.open({ allowHalfOpen: options.allowHalfOpen ?? true });
    this.dataPorts.push(port);
    return port;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  waitForClose(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return withTimeout(this.closed, timeoutMs, () => 'upstream control connection still open');
  }

  /** Resolves when the proxy has sent FIN or the connection has closed, whichever is first. */
  waitForHangUp(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return withTimeout(Promise.race([this.ended, this.closed]), timeoutMs, () => 'the proxy has not hung up on the upstream');
  }
}

export class ScriptedUpstream {
  readonly connections: UpstreamConnection[] = [];
  /** Errors thrown by scripts, other than the proxy hanging up. A test should end with none. */
  readonly scriptErrors: unknown[] = [];
  private readonly waiters: Array<() => void> = [];
  private readonly running = new Set<Promise<void>>();

  private constructor(
    private readonly server: net.Server,
    readonly host: string,
    readonly port: number,
  ) {}

  static async start(script: Script, options: { allowHalfOpen?: boolean } = {}): Promise<ScriptedUpstream> {
    const server = net.createServer({ allowHalfOpen: options.allowHalfOpen ?? false });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('scripted upstream has no address');
    const upstream = new ScriptedUpstream(server, address.address, address.port);
    server.on('connection', (socket: net.Socket) => {
      const connection = new UpstreamConnection(socket);
      upstream.connections.push(connection);
      const run = (async () => script(connection))().catch((error: unknown) => {
        if (!(error instanceof UpstreamClosedError)) upstream.scriptErrors.push(error);
      });
      upstream.running.add(run);
      void run.finally(() => upstream.running.delete(run));
      for (const wake of upstream.waiters.splice(0)) wake();
    });
    return upstream;
  }

  /** `host:port`, for the proxy's --upstream. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /**
   * The first connection, from index `from` on, that is a real session: it has received a byte,
   * or is still open after a short settle (a readiness probe closes at once without a byte).
   */
  async nextSession(from = 0, timeoutMs = DEFAULT_WAIT_MS): Promise<UpstreamConnection> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const connection of this.connections.slice(from)) {
        if (connection.commands.length > 0 || connection.receivedBytes().length > 0) return connection;
        if (!connection.isClosed) {
          await delay(20);
          if (!connection.isClosed) return connection;
        }
      }
      if (Date.now() > deadline) throw new Error('scripted upstream: no session connection');
      await withTimeout(
        new Promise<void>((resolve) => this.waiters.push(resolve)),
        Math.max(1, deadline - Date.now()),
        () => 'scripted upstream: no session connection',
      ).catch(() => undefined);
    }
  }

  /** Connections that are sessions (not readiness probes): received a byte or still open. */
  sessions(): UpstreamConnection[] {
    return this.connections.filter((c) => c.receivedBytes().length > 0 || !c.isClosed);
  }

  /** Fails if any script threw (other than on hang-up). */
  assertNoScriptErrors(): void {
    if (this.scriptErrors.length > 0) {
      const messages = this.scriptErrors.map((error) => (error instanceof Error ? error.message : String(error)));
      throw new Error(`scripted upstream failed: ${messages.join('; ')}`);
    }
  }

  async close(): Promise<void> {
    for (const connection of this.connections) {
      connection.destroy();
      for (const port of connection.dataPorts) port.close();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
