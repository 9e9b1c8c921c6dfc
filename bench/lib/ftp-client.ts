/**
 * A lean FTP client for the load generator: one control connection, replies as RFC 959
 * multi-line aware records, passive data connections to the address inside the 227 (as the
 * legacy clients that ftpmasq exists for do). No retries: a failure is counted by the caller.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';

export interface Reply {
  readonly code: number;
  readonly text: string;
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

interface Waiter {
  resolve(reply: Reply): void;
  reject(error: Error): void;
}

/** Every wait of the client is bounded; a stalled session fails instead of hanging the run. */
const DEFAULT_TIMEOUT_MS = 30_000;

export class FtpControl {
  private text = '';
  private multiLineCode: string | undefined;
  private multiLineText = '';
  private readonly replies: Reply[] = [];
  private readonly waiters: Waiter[] = [];
  private failure: Error | undefined;

  private constructor(readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('control connection closed')));
    socket.on('timeout', () => {
      this.fail(new Error('control connection timed out'));
      socket.destroy();
    });
  }

  /** Connects and reads the greeting. */
  static async connect(target: HostPort, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<{ control: FtpControl; greeting: Reply }> {
    const socket = net.connect({ host: target.host, port: target.port });
    socket.setTimeout(timeoutMs);
    const control = new FtpControl(socket);
    const greeting = await control.read();
    return { control, greeting };
  }

  /** Next reply, in order. */
  read(): Promise<Reply> {
    const queued = this.replies.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  send(line: string): void {
    this.socket.write(`${line}\r\n`, 'latin1');
  }

  /** Sends a command and resolves with its (final, non-1xx) reply. */
  async command(line: string): Promise<Reply> {
    this.send(line);
    let reply = await this.read();
    while (reply.code >= 100 && reply.code < 200) reply = await this.read();
    return reply;
  }

  async expect(line: string, accept: (code: number) => boolean): Promise<Reply> {
    const reply = await this.command(line);
    if (!accept(reply.code)) throw new Error(`${line.split(' ')[0] ?? line}: unexpected reply ${reply.code} ${reply.text}`);
    return reply;
  }

  async login(user: string, password: string): Promise<void> {
    const userReply = await this.command(`USER ${user}`);
    if (userReply.code === 230) return;
    if (userReply.code !== 331) throw new Error(`USER: ${userReply.code} ${userReply.text}`);
    await this.expect(`PASS ${password}`, (code) => code === 230);
  }

  /** PASV, and the address and port of its 227 reply. */
  async pasv(): Promise<HostPort> {
    const reply = await this.expect('PASV', (code) => code === 227);
    const match = /(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/.exec(reply.text);
    if (match === null) throw new Error(`unreadable 227: ${reply.text}`);
    const n = match.slice(1, 7).map(Number);
    return { host: `${n[0]}.${n[1]}.${n[2]}.${n[3]}`, port: (n[4] ?? 0) * 256 + (n[5] ?? 0) };
  }

  /** QUIT, then wait (bounded) for the server to close. */
  async quit(): Promise<void> {
    try {
      await this.command('QUIT');
    } finally {
      this.socket.end();
      this.socket.destroy();
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.text += chunk.toString('latin1');
    let newline = this.text.indexOf('\n');
    while (newline !== -1) {
      const line = this.text.slice(0, newline).replace(/\r$/, '');
      this.text = this.text.slice(newline + 1);
      this.onLine(line);
      newline = this.text.indexOf('\n');
    }
  }

  private onLine(line: string): void {
    const code = line.slice(0, 3);
    if (this.multiLineCode !== undefined) {
      this.multiLineText += `\n${line}`;
      if (code === this.multiLineCode && line.charAt(3) === ' ') {
        this.deliver({ code: Number(code), text: this.multiLineText });
        this.multiLineCode = undefined;
      }
      return;
    }
    if (!/^\d{3}$/.test(code)) return;
    if (line.charAt(3) === '-') {
      this.multiLineCode = code;
      this.multiLineText = line;
      return;
    }
    this.deliver({ code: Number(code), text: line });
  }

  private deliver(reply: Reply): void {
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve(reply);
    else this.replies.push(reply);
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}

export interface DownloadResult {
  readonly bytes: number;
  readonly sha256: string | undefined;
}

/** Opens a data connection to `target` and reads it to its end, hashing if asked. */
export function receive(target: HostPort, hash: boolean, timeoutMs = DEFAULT_TIMEOUT_MS): {
  readonly connected: Promise<void>;
  readonly done: Promise<DownloadResult>;
} {
  const socket = net.connect({ host: target.host, port: target.port });
  socket.setTimeout(timeoutMs);
  const hasher = hash ? createHash('sha256') : undefined;
  let bytes = 0;
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  const done = new Promise<DownloadResult>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hasher?.update(chunk);
    });
    socket.on('end', () => resolve({ bytes, sha256: hasher?.digest('hex') }));
    socket.on('error', reject);
    socket.on('timeout', () => {
      socket.destroy();
      reject(new Error('data connection timed out'));
    });
    socket.on('close', () => reject(new Error('data connection closed before its end')));
  });
  connected.catch(() => undefined);
  done.catch(() => undefined);
  return { connected, done };
}

/** PASV, connect, RETR, read to the end and the 226: one passive download. */
export async function retrieve(control: FtpControl, name: string, hash: boolean): Promise<DownloadResult> {
  const target = await control.pasv();
  const data = receive(target, hash);
  await data.connected;
  const result = await Promise.all([data.done, control.expect(`RETR ${name}`, (code) => code === 226)]);
  return result[0];
}
