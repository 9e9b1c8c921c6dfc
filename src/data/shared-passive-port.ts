import type net from 'node:net';
import { normalizeAddress } from '../protocol/address-policy.js';

/** Called with each data connection accepted for one waiting session. */
export type ConnectionHandler = (socket: net.Socket) => void;

/**
 * `passivePortSharing`: one listener on a passive port that several sessions wait on at once,
 * each for a different client address. The data-peer check is what tells them apart, so a client
 * address holds the port from its 227 until its relay ends, and a second session of the same
 * address gets another port. A connection goes to the session waiting for its source address;
 * one from an address nobody waits for goes to the oldest waiter, whose data-peer check refuses
 * and counts it (`foreign_data_peer`) exactly as on a port of its own. Owned by the pool.
 */
export class SharedPassivePort {
  /** Client addresses holding the port: waiting for their data connection, or relaying on it. */
  private readonly holders = new Set<string>();
  /** The sessions waiting now, by client address, in the order they began to wait. */
  private readonly waiters = new Map<string, ConnectionHandler>();

  constructor(
    readonly port: number,
    readonly bindHost: string,
    readonly server: net.Server,
  ) {
    server.on('connection', (socket: net.Socket) => this.dispatch(socket));
  }

  /** Sessions holding the port (waiting or relaying). */
  get holderCount(): number {
    return this.holders.size;
  }

  /** A session of `client` may take this port: same bind address, and no session of that address holds it. */
  accepts(bindHost: string, client: string): boolean {
    return this.server.listening && bindHost === this.bindHost && !this.holders.has(key(client));
  }

  hold(client: string): void {
    this.holders.add(key(client));
  }

  wait(client: string, handler: ConnectionHandler): void {
    this.waiters.set(key(client), handler);
  }

  /** The client's data connection has arrived (or it gave up): it no longer waits, but still holds the port. */
  stopWaiting(client: string): void {
    this.waiters.delete(key(client));
  }

  /** Returns true when no session holds the port any more: the pool then closes and frees it. */
  release(client: string): boolean {
    this.waiters.delete(key(client));
    this.holders.delete(key(client));
    return this.holders.size === 0;
  }

  private dispatch(socket: net.Socket): void {
    const own = this.waiters.get(key(socket.remoteAddress ?? ''));
    const handler = own ?? this.waiters.values().next().value;
    if (handler === undefined) {
      // Every holder is relaying: as a port whose listener has closed, nobody takes this connection.
      socket.on('error', () => socket.destroy());
      socket.destroy();
      return;
    }
    handler(socket);
  }
}

function key(address: string): string {
  return normalizeAddress(address);
}
