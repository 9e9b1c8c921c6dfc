import net from 'node:net';
import type { ReusedReadBuffer } from './data-relay.js';

export interface AdoptedSocket {
  readonly socket: net.Socket;
  /** Set when the socket reads into the reused buffer; undefined on the fallback path. */
  readonly reader: ReusedReadBuffer | undefined;
}

/**
 * Node offers `onread` (reads into a caller's buffer) only on sockets it creates, and a passive
 * upload arrives on a socket ftpmasq accepted. Such a socket, still paused by `pauseOnConnect`
 * (so nothing has been read from it), is re-created around the same handle with `onread`, the
 * way Node's own cluster and child_process hand sockets over (`new net.Socket({ handle })`).
 * That relies on Node's `_handle` field: where it is missing or the socket has started reading,
 * the accepted socket is used as it is, with 'data' events. Uploads through ftpmasq cost about
 * half the CPU this way (docs/PERFORMANCE.md).
 */
export function adoptWithReusedBuffer(accepted: net.Socket, reader: ReusedReadBuffer): AdoptedSocket {
  const handle: unknown = Reflect.get(accepted, '_handle');
  if (typeof handle !== 'object' || handle === null || !accepted.isPaused() || accepted.readableLength > 0) {
    return { socket: accepted, reader: undefined };
  }
  const options: net.SocketConstructorOpts = { onread: reader.onread, allowHalfOpen: true, readable: true, writable: true };
  // Typed as a BoundSocket in @types/node; at run time Node takes any stream handle here.
  Reflect.set(options, 'handle', handle);
  let adopted: net.Socket;
  try {
    adopted = new net.Socket(options);
  } catch {
    return { socket: accepted, reader: undefined };
  }
  // The handle now belongs to the new socket: the old one must not close it.
  Reflect.set(accepted, '_handle', null);
  accepted.destroy();
  adopted.pause();
  return { socket: adopted, reader };
}
