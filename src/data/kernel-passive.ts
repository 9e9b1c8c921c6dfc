import type { KernelForward, KernelForwarder } from '../kernel/kernel-forwarder.js';
import type { ForwardCounters } from '../kernel/nft-ruleset.js';
import type { Conn } from '../net/conn.js';
import type { Logger } from '../observability/logger.js';
import type { SiteMetrics } from '../observability/metrics.js';
import { ipFamily } from '../protocol/address-policy.js';
import type { PortLease } from './passive-port-pool.js';

export interface KernelPassiveOptions {
  readonly kernel: Pick<KernelForwarder, 'install'>;
  readonly metrics: SiteMetrics;
  readonly log: Logger;
  /** How long the port stays forwarded for the client's first connection. */
  readonly passiveTimeoutMs: number;
  readonly client: Conn;
  readonly upstream: () => Conn | undefined;
}

interface Armed {
  readonly forward: KernelForward;
  readonly lease: PortLease;
  readonly timer: NodeJS.Timeout;
}

/**
 * Kernel mode's passive data path for one session, the kernel half of DataConnector's
 * prepare/commit/rollback: prepare installs the transfer's forwarding (its port leased from the
 * pool, so no other session is offered it meanwhile), the kernel commits by forwarding the
 * client's first connection, and the transfer's final reply, a new passive command, the passive
 * timeout (disarm only) or the session's end roll it back. It owns the current forward and its
 * lease; each forward is finished once, and its counters go into ftpmasq_data_bytes_total.
 */
export class KernelPassive {
  private current: Armed | undefined;
  private closed = false;

  constructor(private readonly options: KernelPassiveOptions) {}

  /** Resolves false when the port could not be forwarded; the lease is released then. */
  async prepare(lease: PortLease, upstreamPort: number): Promise<boolean> {
    this.retire(true);
    const { client, log } = this.options;
    const upstream = this.options.upstream();
    const addresses = [client.peer.host, upstream?.peer.host ?? '', upstream?.local.host ?? ''];
    if (upstream === undefined || addresses.some((address) => ipFamily(address) !== 4)) {
      log.error({ addresses }, 'kernel mode forwards IPv4 only: the client, the server and the gateway need IPv4 addresses');
      lease.release();
      return false;
    }
    // The DNAT happens in prerouting, before any local socket: a listener on the port would only
    // ever get the connections the rule does not forward (a thief, a second connection), which
    // must be refused. Closed, the port answers those with a RST; the lease keeps it reserved.
    lease.stopListening();
    const forward = await this.options.kernel.install({
      client: client.peer.host,
      port: lease.port,
      server: upstream.peer.host,
      serverPort: upstreamPort,
      source: upstream.local.host,
    });
    if (forward === undefined) {
      lease.release();
      return false;
    }
    if (this.closed) {
      void this.finish(forward, lease, false);
      return false;
    }
    const timer = setTimeout(() => {
      // An established flow goes on by conntrack: only new connections stop being forwarded.
      forward.disarm();
      log.info({ port: lease.port }, 'passive port no longer forwarded for a new connection (passive timeout)');
    }, this.options.passiveTimeoutMs);
    this.current = { forward, lease, timer };
    log.debug({ forward: forward.spec }, 'kernel forwarding installed');
    return true;
  }

  /** The transfer's final reply arrived: its forwarding is finished once its last packets passed. */
  transferReplied(): void {
    this.retire(true);
  }

  /** A new passive command (or PORT) replaces the forward; the session's end removes it at once. */
  rollback(): void {
    this.retire(true);
  }

  close(): void {
    this.closed = true;
    this.retire(false);
  }

  private retire(settle: boolean): void {
    const armed = this.current;
    this.current = undefined;
    if (armed === undefined) return;
    clearTimeout(armed.timer);
    void this.finish(armed.forward, armed.lease, settle);
  }

  private async finish(forward: KernelForward, lease: PortLease, settle: boolean): Promise<void> {
    let counters: ForwardCounters;
    try {
      counters = await forward.finish(settle);
    } finally {
      lease.release();
    }
    const { metrics, log } = this.options;
    // IP bytes, headers included: the kernel counts packets, not the stream (docs/DESIGN.md).
    metrics.dataBytes('to_client', counters.toClient.bytes);
    metrics.dataBytes('to_server', counters.toServer.bytes);
    log.info(
      { mode: 'kernel', port: lease.port, bytesToClient: counters.toClient.bytes, bytesToServer: counters.toServer.bytes },
      'kernel forwarding removed',
    );
  }
}
