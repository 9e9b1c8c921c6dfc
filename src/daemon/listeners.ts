import net from 'node:net';
import type { Endpoint } from '../config/values.js';
import { type ListenerSpec, formatEndpoint } from './reload-plan.js';

export class ListenError extends Error {
  constructor(
    readonly endpoint: Endpoint,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ListenError';
  }
}

/**
 * One listening control socket. The daemon's listener table owns it; `site` is the name of the
 * site its connections go to, which a reload may change without closing the socket.
 */
export interface ControlListener {
  readonly spec: ListenerSpec;
  readonly server: net.Server;
  /** Where it is bound (port 0 in the configuration becomes the real port here). */
  readonly address: Endpoint;
  site: string;
  /** False from the bind until the reload that bound it commits; connections wait until then. */
  committed: boolean;
  readonly waiting: net.Socket[];
}

export interface ListenerHandlers {
  readonly onConnection: (listener: ControlListener, socket: net.Socket) => void;
  /** An error after listening (EMFILE on accept, say): logged; the listener goes on. */
  readonly onError: (listener: ControlListener, error: Error) => void;
}

/** Binds one control listener; rejects with a ListenError naming the address. */
export async function bindListener(spec: ListenerSpec, handlers: ListenerHandlers): Promise<ControlListener> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false });
  await listen(server, spec.endpoint, spec.ipv6Only);
  const bound = server.address();
  if (bound === null || typeof bound === 'string') {
    await closeServer(server);
    throw new ListenError(spec.endpoint, 'EUNKNOWN', `cannot listen on ${formatEndpoint(spec.endpoint)}: no TCP address`);
  }
  const listener: ControlListener = {
    spec,
    server,
    address: { host: bound.address, port: bound.port },
    site: spec.site,
    committed: false,
    waiting: [],
  };
  server.on('connection', (socket: net.Socket) => handlers.onConnection(listener, socket));
  server.on('error', (error) => handlers.onError(listener, error));
  return listener;
}

function listen(server: net.Server, endpoint: Endpoint, ipv6Only: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(new ListenError(endpoint, error.code ?? 'EUNKNOWN', `cannot listen on ${formatEndpoint(endpoint)}: ${error.message}`));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host: endpoint.host, port: endpoint.port, ipv6Only, backlog: 1024 });
  });
}

/** Stops accepting; connections already accepted are not touched. Idempotent. */
export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
  });
}
