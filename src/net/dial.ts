import net from 'node:net';
import { connFromSocket, type Conn } from './conn.js';

export interface DialOptions {
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** Source address: the leg of the gateway that faces the target. */
  readonly localAddress?: string | undefined;
  /** Data connections pass half-closes on; control connections too (a client's FIN after QUIT). */
  readonly allowHalfOpen: boolean;
  /** Reads into a caller-owned buffer instead of 'data' events (data connections). */
  readonly onread?: net.OnReadOpts | undefined;
  /** Written first, before anyone else can write: a PROXY header for the upstream (upstreamProxyProtocol). */
  readonly proxyHeader?: Buffer | undefined;
}

export class DialError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'DialError';
  }
}

/**
 * The one place ftpmasq opens outgoing TCP connections: to the upstream (control and data) and,
 * in active mode, to the client's checked PORT address. Resolves once connected, or rejects
 * after the timeout with the socket destroyed, so no caller owns a half-made socket.
 */
export function dial(options: DialOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({
      host: options.host,
      port: options.port,
      allowHalfOpen: options.allowHalfOpen,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      ...(options.onread === undefined ? {} : { onread: options.onread }),
    });
    const timer = setTimeout(() => {
      cleanup();
      socket.destroy();
      reject(new DialError(`connect to ${options.host}:${options.port} timed out after ${options.timeoutMs} ms`, 'ETIMEDOUT'));
    }, options.timeoutMs);
    const onError = (error: NodeJS.ErrnoException): void => {
      cleanup();
      socket.destroy();
      reject(new DialError(`connect to ${options.host}:${options.port} failed: ${error.message}`, error.code ?? 'EUNKNOWN'));
    };
    const onConnect = (): void => {
      cleanup();
      if (options.proxyHeader !== undefined) socket.write(options.proxyHeader);
      resolve(socket);
    };
    function cleanup(): void {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('connect', onConnect);
    }
    socket.once('error', onError);
    socket.once('connect', onConnect);
  });
}

/** {@link dial}, answered as the Conn a session uses: the stream and both ends' addresses. */
export async function dialConn(options: DialOptions): Promise<Conn> {
  return connFromSocket(await dial(options));
}
