/**
 * A small FTPS server on loopback for the upstream-TLS tests: explicit (AUTH TLS) or implicit,
 * PBSZ/PROT, one user, PASV with TLS data connections that must (or may) resume the control
 * connection's TLS session, as ProFTPD mod_tls and vsftpd `require_ssl_reuse` do. It records
 * every command line and, for each data connection, whether it resumed.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

export interface FtpsUpstreamOptions {
  readonly mode: 'explicit' | 'implicit';
  readonly cert: string;
  readonly key: string;
  readonly files: Map<string, Buffer>;
  /** Data connections that do not resume the control session get nothing (closed), as with ProFTPD's default. */
  readonly requireReuse: boolean;
}

export class FtpsUpstream {
  /** Every command line received, in order, across sessions. */
  readonly commands: string[] = [];
  /** For each TLS data connection: whether it resumed a session. */
  readonly dataResumed: boolean[] = [];
  readonly uploads = new Map<string, Buffer>();
  private readonly context: tls.SecureContext;
  private readonly server: net.Server;
  private readonly sockets = new Set<Duplex>();

  private constructor(private readonly options: FtpsUpstreamOptions) {
    this.context = tls.createSecureContext({ cert: options.cert, key: options.key });
    this.server = net.createServer((socket) => this.onConnection(socket));
  }

  static async start(options: FtpsUpstreamOptions): Promise<FtpsUpstream> {
    const upstream = new FtpsUpstream(options);
    await new Promise<void>((resolve) => upstream.server.listen(0, '127.0.0.1', resolve));
    return upstream;
  }

  get address(): string {
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    return `127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track<T extends Duplex>(socket: T): T {
    this.sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.sockets.delete(socket));
    return socket;
  }

  private secure(socket: net.Socket): tls.TLSSocket {
    return this.track(new tls.TLSSocket(socket, { isServer: true, secureContext: this.context }));
  }

  private onConnection(plain: net.Socket): void {
    this.track(plain);
    let control: Duplex = this.options.mode === 'implicit' ? this.secure(plain) : plain;
    let buffer = Buffer.alloc(0);
    let data: Promise<tls.TLSSocket | undefined> | undefined;
    let queue = Promise.resolve();
    const reply = (text: string): void => {
      control.write(`${text}\r\n`);
    };
    const onData = (chunk: Buffer): void => {
      buffer = Buffer.concat([buffer, chunk]);
      for (let end = buffer.indexOf('\r\n'); end !== -1; end = buffer.indexOf('\r\n')) {
        const line = buffer.subarray(0, end).toString('latin1');
        buffer = buffer.subarray(end + 2);
        queue = queue.then(() => handle(line));
      }
    };
    const handle = async (line: string): Promise<void> => {
      this.commands.push(line);
      const [verb = '', ...rest] = line.split(' ');
      const argument = rest.join(' ');
      switch (verb.toUpperCase()) {
        case 'AUTH':
          reply('234 AUTH TLS ok');
          control.off('data', onData);
          control = this.secure(plain);
          control.on('data', onData);
          return;
        case 'PBSZ':
          reply('200 PBSZ=0');
          return;
        case 'PROT':
          reply(argument === 'P' ? '200 Protection set to Private' : '536 only P here');
          return;
        case 'USER':
          reply('331 Password required');
          return;
        case 'PASS':
          reply('230 Logged in');
          return;
        case 'TYPE':
          reply('200 Type set');
          return;
        case 'PASV':
          data = this.openPassive(reply);
          return;
        case 'LIST':
        case 'RETR':
        case 'STOR':
          await this.transfer(verb.toUpperCase(), argument, data, reply);
          data = undefined;
          return;
        case 'QUIT':
          reply('221 Goodbye');
          control.end();
          return;
        default:
          reply('502 Not implemented');
      }
    };
    control.on('data', onData);
    reply('220 FTPS test server ready');
  }

  /** Listens on a port of its own, answers 227, and resolves with the TLS data socket (undefined when refused). */
  private async openPassive(reply: (text: string) => void): Promise<tls.TLSSocket | undefined> {
    const listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const address = listener.address();
    if (address === null || typeof address === 'string') throw new Error('no data port');
    reply(`227 Entering Passive Mode (127,0,0,1,${address.port >> 8},${address.port & 255})`);
    const socket = await new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
    listener.close();
    const secure = this.secure(socket);
    return new Promise((resolve) => {
      secure.once('secure', () => {
        const resumed = secure.isSessionReused();
        this.dataResumed.push(resumed);
        if (this.options.requireReuse && !resumed) {
          secure.destroy();
          resolve(undefined);
          return;
        }
        resolve(secure);
      });
      secure.once('close', () => resolve(undefined));
    });
  }

  private async transfer(verb: string, name: string, data: Promise<tls.TLSSocket | undefined> | undefined, reply: (text: string) => void): Promise<void> {
    if (data === undefined) {
      reply('425 Use PASV first');
      return;
    }
    reply('150 Opening data connection');
    const socket = await data;
    if (socket === undefined) {
      reply('425 Unable to build data connection: TLS session reuse required');
      return;
    }
    if (verb === 'RETR' || verb === 'LIST') {
      const file = verb === 'LIST' ? Buffer.from([...this.options.files.keys()].join('\r\n')) : this.options.files.get(name);
      await new Promise<void>((resolve) => socket.end(file ?? Buffer.alloc(0), () => resolve()));
      reply(file === undefined ? '550 No such file' : '226 Transfer complete');
      return;
    }
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await new Promise<void>((resolve) => socket.once('end', resolve));
    socket.end();
    this.uploads.set(name, Buffer.concat(chunks));
    reply('226 Transfer complete');
  }
}
