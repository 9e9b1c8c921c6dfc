import net from 'node:net';
import type { PortRange } from '../config/values.js';
import { type ConnectionHandler, SharedPassivePort } from './shared-passive-port.js';

/**
 * One port of the passive range, bound and listening for its session (bind-and-hold: the port
 * is never probed and then re-bound, so no other process can slip in between).
 * The pool owns the listener; the session holds the lease and releases it.
 */
export interface PortLease {
  readonly port: number;
  /** Listening, with pauseOnConnect and allowHalfOpen set for relaying; shared by several leases with `sharing`. */
  readonly server: net.Server;
  /** The data connections for this lease's session: every one on a port of its own, its client's on a shared one. */
  onConnection(handler: ConnectionHandler): void;
  /** Stops waiting for connections but keeps the port reserved for the relay that uses it. */
  stopListening(): void;
  /** Closes the listener and returns the port to the pool. Idempotent. */
  release(): void;
}

/**
 * The passive ports every pool of the process holds. A reload that changes a site's range makes a
 * new pool while the old one still serves the sessions that started before; where the ranges
 * overlap, the new pool skips a port the old one holds (even one whose listener is closed because
 * its relay is running) instead of binding it a second time.
 */
export class PortLedger {
  private readonly held = new Set<number>();

  has(port: number): boolean {
    return this.held.has(port);
  }

  add(port: number): void {
    this.held.add(port);
  }

  delete(port: number): void {
    this.held.delete(port);
  }
}

export interface PassivePortPoolOptions {
  /** Called whenever the number of held ports (or of sessions holding them) changes, for the gauges. */
  readonly onChange?: (inUse: number) => void;
  /** How many ports one acquire tries when others are taken by other processes. */
  readonly maxAttempts?: number;
  /** Shared with the other pools of the process; a pool of its own when not given. */
  readonly ledger?: PortLedger;
  /** `passivePortSharing`: a port may wait for several sessions whose client addresses differ. */
  readonly sharing?: boolean;
}

export class PassivePortPool {
  readonly range: PortRange;
  private readonly held = new Set<number>();
  private cursor: number;
  private readonly onChange: (inUse: number) => void;
  private readonly maxAttempts: number;
  private readonly ledger: PortLedger;
  /** With sharing: the listening ports that sessions of other client addresses may join. */
  private readonly shared = new Map<number, SharedPassivePort>();
  readonly sharing: boolean;

  constructor(range: PortRange, options: PassivePortPoolOptions = {}) {
    this.range = range;
    this.cursor = range.low;
    this.onChange = options.onChange ?? (() => undefined);
    this.maxAttempts = options.maxAttempts ?? 64;
    this.ledger = options.ledger ?? new PortLedger();
    this.sharing = options.sharing ?? false;
  }

  get capacity(): number {
    return this.range.high - this.range.low + 1;
  }

  /** Ports bound or reserved, however many sessions share each. */
  get inUse(): number {
    return this.held.size;
  }

  /** Sessions holding a port (waiting or relaying): above `inUse` only when ports are shared. */
  get sessionsHolding(): number {
    let sessions = this.held.size;
    for (const port of this.shared.values()) sessions += port.holderCount - 1;
    return sessions;
  }

  /**
   * Binds the next free port of the range on `bindHost`. Ports are handed out round-robin so a
   * port just released (and perhaps still awaited by a slow client) is the last to be reused.
   * With sharing and a `client` address, a port another address's session waits on is taken
   * too, in the same round-robin order. Resolves undefined when the range is exhausted.
   */
  async acquire(bindHost: string, client?: string): Promise<PortLease | undefined> {
    const sharingFor = this.sharing ? client : undefined;
    let attempts = 0;
    let scanned = 0;
    while (scanned < this.capacity && attempts < this.maxAttempts) {
      const port = this.cursor;
      this.cursor = port >= this.range.high ? this.range.low : port + 1;
      scanned++;
      const joinable = sharingFor === undefined ? undefined : this.shared.get(port);
      if (joinable !== undefined && sharingFor !== undefined && joinable.accepts(bindHost, sharingFor)) {
        return this.makeSharedLease(joinable, sharingFor);
      }
      if (this.held.has(port) || this.ledger.has(port)) continue;
      attempts++;
      this.hold(port);
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
      const bound = await listen(server, bindHost, port);
      if (bound.ok) {
        if (sharingFor === undefined) return this.makeLease(port, server);
        const shared = new SharedPassivePort(port, bindHost, server);
        this.shared.set(port, shared);
        server.on('error', () => server.close());
        return this.makeSharedLease(shared, sharingFor);
      }
      this.free(port);
      if (bound.code !== 'EADDRINUSE' && bound.code !== 'EACCES') throw bound.error;
    }
    return undefined;
  }

  /** A session of `client` on a shared port: the listener closes and the port is freed with its last holder. */
  private makeSharedLease(shared: SharedPassivePort, client: string): PortLease {
    shared.hold(client);
    this.onChange(this.held.size);
    let released = false;
    return {
      port: shared.port,
      server: shared.server,
      onConnection: (handler) => shared.wait(client, handler),
      stopListening: () => shared.stopWaiting(client),
      release: () => {
        if (released) return;
        released = true;
        if (!shared.release(client)) {
          this.onChange(this.held.size);
          return;
        }
        this.shared.delete(shared.port);
        shared.server.close();
        this.free(shared.port);
      },
    };
  }

  private makeLease(port: number, server: net.Server): PortLease {
    let listening = true;
    let released = false;
    // An accept error after listening (EMFILE, say) must not crash the process: the client's
    // connect fails and the server's own data timeout answers the transfer.
    server.on('error', () => stopListening());
    const stopListening = (): void => {
      if (!listening) return;
      listening = false;
      server.close();
    };
    return {
      port,
      server,
      onConnection: (handler) => server.on('connection', handler),
      stopListening,
      release: () => {
        if (released) return;
        released = true;
        stopListening();
        this.free(port);
      },
    };
  }

  private hold(port: number): void {
    this.held.add(port);
    this.ledger.add(port);
    this.onChange(this.held.size);
  }

  private free(port: number): void {
    if (!this.held.delete(port)) return;
    this.ledger.delete(port);
    this.onChange(this.held.size);
  }
}

type ListenResult = { ok: true } | { ok: false; code: string; error: Error };

function listen(server: net.Server, host: string, port: number): Promise<ListenResult> {
  return new Promise((resolve) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      server.close();
      resolve({ ok: false, code: error.code ?? 'EUNKNOWN', error });
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve({ ok: true });
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // A client opens one data connection per PASV: a short backlog is enough.
    server.listen({ host, port, backlog: 8, exclusive: true });
  });
}
