/**
 * FTPS test fixtures: a self-signed certificate made by openssl for the test (never a committed
 * key), and a small FTPS client on Node's tls for the control connection and PROT P data
 * connections, able to resume (or not) the control connection's TLS session.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { withTimeout, type Endpoint } from '../../helpers/raw-ftp-client.js';

export interface TestCertificate {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  remove(): void;
}

/** A fresh EC P-256 certificate for localhost and 127.0.0.1, valid for one day. */
export function makeCertificate(name = 'ftpmasq-test'): TestCertificate {
  const dir = mkdtempSync(path.join(tmpdir(), `${name}-`));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
    { stdio: 'ignore' },
  );
  return { dir, certFile, keyFile, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface HandshakeOptions {
  readonly ALPNProtocols?: string[];
  readonly maxVersion?: tls.SecureVersion;
}

export interface Reply {
  readonly code: number;
  readonly text: string;
}

const WAIT_MS = 5000;

/** One FTP control connection that can be upgraded with AUTH TLS. */
export class FtpsTestClient {
  private buffer = Buffer.alloc(0);
  private closed = false;
  private wake: (() => void) | undefined;
  private readonly onData = (chunk: Buffer): void => {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.wake?.();
  };
  private readonly onEnd = (): void => {
    this.closed = true;
    this.wake?.();
  };
  /** TLS sessions (tickets) the server sent on the control connection, newest last. */
  readonly sessions: Buffer[] = [];

  private constructor(
    private stream: Duplex,
    readonly endpoint: Endpoint,
  ) {
    this.listen(stream);
  }

  static async connect(endpoint: Endpoint): Promise<FtpsTestClient> {
    const socket = net.connect(endpoint.port, endpoint.host);
    await withTimeout(new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject)), WAIT_MS, () => 'connect');
    return new FtpsTestClient(socket, endpoint);
  }

  get tlsSocket(): tls.TLSSocket | undefined {
    return this.stream instanceof tls.TLSSocket ? this.stream : undefined;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(text: string | Buffer): void {
    this.stream.write(typeof text === 'string' ? Buffer.from(text, 'latin1') : text);
  }

  async command(text: string): Promise<Reply> {
    this.send(`${text}\r\n`);
    return this.reply();
  }

  /** One whole reply (RFC 959 multi-line aware). */
  async reply(): Promise<Reply> {
    return withTimeout(this.readReply(), WAIT_MS, () => `reply; have ${JSON.stringify(this.buffer.toString('latin1'))}`);
  }

  /** Resolves when the server closed the connection (or after the wait, false). */
  async waitClosed(ms = WAIT_MS): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await this.waitForData(deadline - Date.now());
    return this.closed;
  }

  /** `AUTH TLS`, `234`, then the handshake on the same connection. */
  async startTls(options: HandshakeOptions = {}): Promise<tls.TLSSocket> {
    const reply = await this.command('AUTH TLS');
    if (reply.code !== 234) throw new Error(`AUTH TLS answered ${reply.text}`);
    return this.handshake(options);
  }

  /** The TLS handshake on the control connection as it is now (the 234 already read). */
  async handshake(options: HandshakeOptions = {}): Promise<tls.TLSSocket> {
    const plain = this.stream;
    plain.off('data', this.onData);
    plain.off('end', this.onEnd);
    plain.pause();
    const secure = tls.connect({
      socket: plain as net.Socket,
      rejectUnauthorized: false,
      servername: 'localhost',
      ...(options.ALPNProtocols === undefined ? {} : { ALPNProtocols: options.ALPNProtocols }),
      ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion }),
    });
    secure.on('session', (session: Buffer) => this.sessions.push(session));
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', reject);
        secure.once('close', () => reject(new Error('closed during the handshake')));
      }),
      WAIT_MS,
      () => 'TLS handshake',
    );
    this.stream = secure;
    this.listen(secure);
    return secure;
  }

  close(): void {
    this.stream.destroy();
  }

  private listen(stream: Duplex): void {
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', () => this.onEnd());
  }

  private async readReply(): Promise<Reply> {
    const lines: string[] = [];
    for (;;) {
      const newline = this.buffer.indexOf(0x0a);
      if (newline === -1) {
        if (this.closed) throw new Error(`connection closed; got ${JSON.stringify(lines)}`);
        await this.waitForData(WAIT_MS);
        continue;
      }
      const line = this.buffer.subarray(0, newline + 1).toString('latin1');
      this.buffer = this.buffer.subarray(newline + 1);
      lines.push(line);
      const first = lines[0] ?? '';
      const code = first.slice(0, 3);
      if (first[3] !== '-' || (lines.length > 1 && line.startsWith(`${code} `))) return { code: Number(code), text: lines.join('') };
    }
  }

  private waitForData(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, ms));
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

/**
 * A PROT P data connection: TCP to `endpoint`, then the TLS handshake as the client, offering the
 * control connection's session when `session` is given.
 */
export async function connectDataTls(
  endpoint: Endpoint | net.Socket,
  session: Buffer | undefined,
  options: HandshakeOptions = {},
): Promise<tls.TLSSocket> {
  const secure = tls.connect({
    ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion }),
    ...(endpoint instanceof net.Socket ? { socket: endpoint } : { host: endpoint.host, port: endpoint.port }),
    rejectUnauthorized: false,
    servername: 'localhost',
    ...(session === undefined ? {} : { session }),
  });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    }),
    WAIT_MS,
    () => 'data TLS handshake',
  );
  return secure;
}

/** Everything a data socket delivers until its end (or its close), and whether it ended cleanly. */
export function readAll(socket: Duplex): Promise<{ data: Buffer; clean: boolean }> {
  return withTimeout(
    new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let clean = false;
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('end', () => (clean = true));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve({ data: Buffer.concat(chunks), clean }));
    }),
    WAIT_MS,
    () => 'data connection end',
  );
}
