/**
 * A small FTP server that behaves like an unfixed ProFTPD behind NAT: its 227 replies name a
 * private address (10.0.11.251 by default) instead of one the client can reach. Used by
 * `ftpmasq demo`, the integration tests and the benchmark's scripted upstream. It listens only
 * where it is told (loopback in the demo and tests) and never dials the advertised address.
 *
 * File names are kept as raw bytes (latin1 strings of the bytes), so UTF-8 and Shift_JIS names
 * round-trip unchanged.
 */
import net from 'node:net';
import { LineReader, stripLineEnding } from '../protocol/line-reader.js';
import { parseCommand } from '../protocol/command.js';
import { formatPortArgument, parseEprtArgument, parsePortArgument } from '../protocol/data-addresses.js';

/** How long a transfer still waits for its data connection once the client has half-closed. */
const DATA_WAIT_AFTER_EOF_MS = 1000;

export interface LegacyFtpServerOptions {
  readonly host: string;
  readonly port?: number;
  /** The address put in 227 replies: the server's own private address, as ProFTPD would. */
  readonly advertisedAddress?: string;
  readonly users?: ReadonlyMap<string, string>;
  /** Initial files, by name as raw bytes (a Buffer) or text. */
  readonly files?: ReadonlyMap<string | Buffer, Buffer>;
  readonly greeting?: string;
}

interface DataEndpoint {
  /** Resolves with the data socket once connected (passive: accepted; active: dialled). */
  readonly socket: Promise<net.Socket>;
  close(): void;
}

export class LegacyFtpServer {
  readonly files = new Map<string, Buffer>();
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly dataServers = new Set<net.Server>();
  private readonly advertisedAddress: string;
  private readonly users: ReadonlyMap<string, string>;
  private readonly greeting: string;
  /** Every 227 line sent, for the demo to show. */
  readonly pasvReplies: string[] = [];

  constructor(private readonly options: LegacyFtpServerOptions) {
    this.advertisedAddress = options.advertisedAddress ?? '10.0.11.251';
    this.users = options.users ?? new Map([['scott', 'tiger']]);
    this.greeting = options.greeting ?? '220 ProFTPD 1.3.8 Server (legacy, no MasqueradeAddress) [10.0.11.251]';
    for (const [name, content] of options.files ?? []) {
      this.files.set(typeof name === 'string' ? Buffer.from(name).toString('latin1') : name.toString('latin1'), content);
    }
    // Half-open, as ProFTPD: a client's EOF ends the session only after every command read before it.
    this.server = net.createServer({ allowHalfOpen: true }, (socket) => this.onConnection(socket));
  }

  async listen(): Promise<{ host: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.options.host, port: this.options.port ?? 0 }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    return { host: address.address, port: address.port };
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    for (const server of this.dataServers) server.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  private onConnection(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const reader = new LineReader();
    let user: string | undefined;
    let loggedIn = false;
    let data: DataEndpoint | undefined;
    let transferAborted = false;
    let queue = Promise.resolve();
    /** A transfer's data endpoint while the transfer waits for its data connection. */
    let waitingEndpoint: DataEndpoint | undefined;
    const reply = (text: string): void => {
      if (!socket.destroyed) socket.write(`${text}\r\n`, 'latin1');
    };
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.sockets.delete(socket);
      data?.close();
    });
    reply(this.greeting);

    const takeData = (): DataEndpoint | undefined => {
      const endpoint = data;
      data = undefined;
      return endpoint;
    };

    /** The transfer's data socket, or undefined after answering 425 as ProFTPD does. */
    const connectData = async (endpoint: DataEndpoint | undefined): Promise<net.Socket | undefined> => {
      if (endpoint === undefined) {
        reply('425 Unable to build data connection: no PORT or PASV');
        return undefined;
      }
      // The endpoint is no longer `data`: if the client goes while it waits, close it here.
      const closeEndpoint = (): void => endpoint.close();
      socket.once('close', closeEndpoint);
      waitingEndpoint = endpoint;
      const dataSocket = await endpoint.socket.catch(() => undefined);
      waitingEndpoint = undefined;
      socket.off('close', closeEndpoint);
      if (dataSocket === undefined) reply('425 Unable to build data connection: Connection refused');
      return dataSocket;
    };

    const handle = async (line: Buffer): Promise<void> => {
      // The client has gone: what it queued behind a blocked transfer is not run (a PASV would
      // open a listener nothing closes any more).
      if (socket.destroyed) return;
      const parsed = parseCommand(line);
      if (!parsed.ok) {
        reply('500 Invalid command: try being more creative');
        return;
      }
      const command = parsed.value;
      const argument = stripLineEnding(command.argument);
      const name = argument.toString('latin1');
      if (!loggedIn && !['USER', 'PASS', 'QUIT', 'FEAT', 'SYST', 'NOOP', 'AUTH'].includes(command.verb)) {
        reply('530 Please login with USER and PASS');
        return;
      }
      switch (command.verb) {
        case 'USER':
          user = name;
          reply(`331 Password required for ${name}`);
          return;
        case 'PASS':
          if (user !== undefined && this.users.get(user) === name) {
            loggedIn = true;
            reply(`230 User ${user} logged in`);
          } else {
            reply('530 Login incorrect.');
          }
          return;
        case 'FEAT':
          socket.write(
            '211-Features:\r\n AUTH TLS\r\n EPSV\r\n EPRT\r\n MDTM\r\n MLST type*;size*;modify*;\r\n PBSZ\r\n PROT\r\n SIZE\r\n UTF8\r\n211 End\r\n',
          );
          return;
        case 'AUTH':
          reply('234 AUTH TLS successful');
          // A proxy that forwarded AUTH would now be stuck in a TLS handshake: end the session.
          socket.end();
          return;
        case 'SYST':
          reply('215 UNIX Type: L8');
          return;
        case 'NOOP':
          reply('200 NOOP command successful');
          return;
        case 'TYPE':
          reply(`200 Type set to ${name}`);
          return;
        case 'PWD':
          reply('257 "/" is the current directory');
          return;
        case 'CWD':
          reply('250 CWD command successful');
          return;
        case 'OPTS':
          reply('200 UTF8 set to on');
          return;
        case 'SIZE': {
          const file = this.files.get(name);
          reply(file === undefined ? `550 ${name}: No such file or directory` : `213 ${file.length}`);
          return;
        }
        case 'PASV':
        case 'EPSV': {
          data?.close();
          const passive = await this.openPassive(socket.localAddress ?? '127.0.0.1');
          data = passive.endpoint;
          if (command.verb === 'PASV') {
            const text = `227 Entering Passive Mode (${formatPortArgument(this.advertisedAddress, passive.port)}).`;
            this.pasvReplies.push(text);
            reply(text);
          } else {
            reply(`229 Entering Extended Passive Mode (|||${passive.port}|)`);
          }
          return;
        }
        case 'PORT':
        case 'EPRT': {
          const target =
            command.verb === 'PORT' ? parsePortArgument(name) : parseEprtArgument(name);
          if (!target.ok) {
            reply(`501 Illegal ${command.verb} command`);
            return;
          }
          data?.close();
          data = this.openActive(target.value.host, target.value.port);
          reply(`200 ${command.verb} command successful`);
          return;
        }
        case 'RETR':
        case 'LIST':
        case 'NLST':
        case 'MLSD': {
          const endpoint = takeData();
          let content: Buffer | undefined;
          if (command.verb === 'RETR') content = this.files.get(name);
          else content = this.listing(command.verb);
          if (content === undefined) {
            endpoint?.close();
            reply(`550 ${name}: No such file or directory`);
            return;
          }
          const dataSocket = await connectData(endpoint);
          if (dataSocket === undefined) return;
          reply(`150 Opening BINARY mode data connection for ${name === '' ? 'file list' : name} (${content.length} bytes)`);
          const completed = await new Promise<boolean>((resolve) => {
            dataSocket.once('close', () => resolve(false));
            dataSocket.end(content, (error?: Error | null) => resolve(error == null));
          });
          if (!completed) {
            // The data connection went away (an ABOR closed it): as ProFTPD, 426 for the transfer.
            transferAborted = true;
            reply('426 Transfer aborted. Data connection closed');
            return;
          }
          dataSocket.destroySoon();
          reply('226 Transfer complete');
          return;
        }
        case 'STOR':
        case 'APPE': {
          const endpoint = takeData();
          const dataSocket = await connectData(endpoint);
          if (dataSocket === undefined) return;
          reply(`150 Opening BINARY mode data connection for ${name}`);
          const chunks: Buffer[] = [];
          await new Promise<void>((resolve) => {
            dataSocket.on('data', (chunk: Buffer) => chunks.push(chunk));
            dataSocket.on('end', () => resolve());
            dataSocket.on('close', () => resolve());
          });
          dataSocket.end();
          const previous = command.verb === 'APPE' ? (this.files.get(name) ?? Buffer.alloc(0)) : Buffer.alloc(0);
          this.files.set(name, Buffer.concat([previous, ...chunks]));
          reply('226 Transfer complete');
          return;
        }
        case 'ABOR':
          // RFC 959: 226 after a transfer it aborted (its 426 came first), 225 when none ran.
          reply(transferAborted ? '226 Abort successful' : '225 ABOR command successful');
          transferAborted = false;
          return;
        case 'QUIT':
          reply('221 Goodbye.');
          socket.end();
          return;
        default:
          reply(`500 ${command.verb} not understood`);
      }
    };

    socket.on('data', (chunk: Buffer) => {
      const result = reader.push(chunk);
      for (const line of result.lines) queue = queue.then(() => handle(line));
      if (!result.ok) {
        reply('500 Line too long');
        socket.destroy();
      }
    });
    socket.on('end', () => {
      // A client that half-closed may still make the data connection it asked for (through a
      // proxy it comes after the EOF), but not for ever: then the transfer gets its 425.
      setTimeout(() => waitingEndpoint?.close(), DATA_WAIT_AFTER_EOF_MS).unref();
      queue = queue.then(() => {
        if (!socket.destroyed) socket.end();
      });
    });
  }

  private listing(verb: string): Buffer {
    const names = [...this.files.keys()].sort();
    const lines = names.map((name) => {
      const size = this.files.get(name)?.length ?? 0;
      if (verb === 'NLST') return name;
      if (verb === 'MLSD') return `type=file;size=${size}; ${name}`;
      return `-rw-r--r--   1 scott    scott    ${String(size).padStart(10)} Jan 01 00:00 ${name}`;
    });
    return Buffer.from(lines.map((line) => `${line}\r\n`).join(''), 'latin1');
  }

  private async openPassive(host: string): Promise<{ port: number; endpoint: DataEndpoint }> {
    const server = net.createServer({ allowHalfOpen: true });
    this.dataServers.add(server);
    const socket = new Promise<net.Socket>((resolve, reject) => {
      server.once('connection', (connection: net.Socket) => {
        connection.on('error', () => connection.destroy());
        server.close();
        this.dataServers.delete(server);
        resolve(connection);
      });
      server.once('close', () => reject(new Error('closed')));
    });
    socket.catch(() => undefined);
    await new Promise<void>((resolve) => server.listen({ host, port: 0 }, () => resolve()));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    return {
      port: address.port,
      endpoint: {
        socket,
        close: () => {
          server.close();
          this.dataServers.delete(server);
          void socket.then((s) => s.destroy(), () => undefined);
        },
      },
    };
  }

  private openActive(host: string, port: number): DataEndpoint {
    const connection = net.connect({ host, port, allowHalfOpen: true });
    const socket = new Promise<net.Socket>((resolve, reject) => {
      connection.once('connect', () => resolve(connection));
      connection.once('error', (error) => reject(error));
    });
    socket.catch(() => undefined);
    return { socket, close: () => connection.destroy() };
  }
}
