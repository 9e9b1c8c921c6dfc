import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { dial } from '../net/dial.js';
import type { ActiveDialResult, ActivePlan, ClientDataTls, DataConnectorOptions, PassivePlan, Plan } from './data-plan.js';
import { readProxyHeader, upstreamProxyHeader } from '../net/proxy-header-io.js';
import type { DataTlsResult } from '../net/tls-session.js';
import type { DataMode } from '../observability/metrics.js';
import { isAllowedDataPeer } from '../protocol/address-policy.js';
import { matchesAny } from '../protocol/cidr.js';
import { adoptWithReusedBuffer } from './adopt-accepted.js';
import { DataRelay, ReusedReadBuffer, type RelayProgress, type RelayResult } from './data-relay.js';
import { KernelPassive } from './kernel-passive.js';
import type { PortLease } from './passive-port-pool.js';

export type { ActivePlan, ActiveDialResult, ClientDataTls, DataConnectorOptions, UpstreamDataTls } from './data-plan.js';

/**
 * One path for passive and active data set-up, in the shape of OpenBSD ftp-proxy's
 * prepare/commit/rollback. Prepare: a 227/229 answered holds a passive port (`preparePassive`),
 * a PORT/EPRT answered keeps the client's target (`prepareActive`). Commit: the client's data
 * socket (accepted on the port, or dialled to the target) is paired with a dial to the upstream's
 * data port, from the upstream control connection's source address, and relayed. Rollback: an
 * unused plan is released (a new PASV, the passive timeout, the session's end). It owns the plan,
 * the sockets being connected and the relays; `close()` ends them all.
 */
export class DataConnector {
  private plan: Plan | undefined;
  private readonly relays = new Set<DataRelay>();
  /** The newest relay, open or closed: a transfer's final reply waits for it while it is open. */
  private newestRelay: DataRelay | undefined;
  /** The stalled relay whose stall a transfer reply has already answered. */
  private reportedStall: DataRelay | undefined;
  /** Settles when the data connections being made now are relayed or have failed. */
  private settlingSetup: Promise<void> | undefined;
  /** Data sockets accepted or dialled whose relay does not exist yet. */
  private readonly connecting = new Set<net.Socket>();
  private clientDials = 0;
  private closed = false;
  /** A PROT P data connection was refused (handshake, no session reuse) and no transfer reply has said so yet. */
  private tlsRefusal: string | undefined;

  /** Kernel mode's passive transfers (the kernel branch of prepare/commit/rollback). */
  private readonly kernelPassive: KernelPassive | undefined;

  constructor(private readonly options: DataConnectorOptions) {
    const { kernel } = options;
    this.kernelPassive = kernel === undefined ? undefined : new KernelPassive({ ...options, kernel });
  }

  /** The newest relay, while it is open. */
  get currentRelay(): DataRelay | undefined {
    return this.newestRelay?.isClosed === false ? this.newestRelay : undefined;
  }

  /** The newest open relay's bytes so far (the live view's transfer progress). */
  get transferProgress(): RelayProgress | undefined {
    return this.currentRelay?.progress;
  }

  /**
   * True once for the newest relay when the stall timeout closed it: the transfer's final reply
   * must not claim success for bytes that never arrived.
   */
  takeStall(): boolean {
    const relay = this.newestRelay;
    if (relay?.closeReason !== 'stalled' || this.reportedStall === relay) return false;
    this.reportedStall = relay;
    return true;
  }

  /**
   * Once, after a PROT P data connection was refused: why. The transfer's final reply becomes
   * a 522 whatever the server said, since the client got none of the data.
   */
  takeTlsRefusal(): string | undefined {
    const refusal = this.tlsRefusal;
    this.tlsRefusal = undefined;
    return refusal;
  }

  get settling(): Promise<void> | undefined {
    return this.settlingSetup;
  }

  /** A relay is open or a data connection is being made (a waiting passive port is not). */
  get isBusy(): boolean {
    return this.relays.size > 0 || this.connecting.size > 0 || this.clientDials > 0 || this.settlingSetup !== undefined;
  }

  get portCapacity(): number {
    return this.options.pool.capacity;
  }

  /** A port of the pool, bound on the address the client connected to (shared with other clients' sessions where the site allows). */
  acquirePort(): Promise<PortLease | undefined> {
    return this.options.pool.acquire(this.clientSideAddress(), this.options.client.peer.host);
  }

  preparePassive(lease: PortLease, upstreamPort: number): void {
    this.rollback();
    const timer = setTimeout(() => {
      if (this.plan !== plan) return;
      this.options.log.info({ port: lease.port }, 'passive port timed out waiting for the client');
      this.rollback();
    }, this.options.passiveTimeoutMs);
    const plan: PassivePlan = { kind: 'passive', lease, upstreamPort, timer };
    this.plan = plan;
    lease.onConnection((socket: net.Socket) => this.onPassiveConnection(plan, socket));
  }

  /**
   * Kernel mode: the port forwarded by the kernel to the server's (src/data/kernel-passive.ts)
   * instead of a listener of ftpmasq's; false when it could not be (the session answers 425).
   * Under PROT P the data is TLS that ends in ftpmasq, so it is relayed as in relay mode.
   */
  prepareKernelPassive(lease: PortLease, upstreamPort: number): Promise<boolean> {
    if (this.kernelPassive === undefined || this.options.clientDataTls?.() !== undefined) {
      this.preparePassive(lease, upstreamPort);
      return Promise.resolve(true);
    }
    this.rollback();
    return this.kernelPassive.prepare(lease, upstreamPort);
  }

  /** A transfer's final reply went to the client: kernel mode's forward for it is removed. */
  transferReplied(): void {
    this.kernelPassive?.transferReplied();
  }

  prepareActive(active: ActivePlan): void {
    // A passive port still held (PASV and PORT pipelined) is released, not left listening.
    this.rollback();
    this.plan = { kind: 'active', ...active };
  }

  /** The active plan, if that is what is prepared; the plan is used up. */
  takeActivePlan(): ActivePlan | undefined {
    const plan = this.plan;
    if (plan?.kind !== 'active') return undefined;
    this.plan = undefined;
    return plan;
  }

  /** Releases the prepared plan that was not used: its passive port goes back to the pool. */
  rollback(): void {
    this.kernelPassive?.rollback();
    const plan = this.plan;
    this.plan = undefined;
    if (plan?.kind === 'passive') {
      clearTimeout(plan.timer);
      plan.lease.release();
    }
  }

  /**
   * Active mode reaches the client first. `onClientReached` runs once its data connection is
   * up (the session sends the transfer command then), and the upstream leg follows; a client
   * that cannot be reached resolves not ok, and nothing was sent upstream.
   */
  async connectActive(plan: ActivePlan, onClientReached: () => void): Promise<ActiveDialResult> {
    const startedAt = performance.now();
    // A TLS data socket is read by the TLS layer from its handle: no reused read buffer under it.
    const dataTls = this.options.clientDataTls?.();
    const clientReader = dataTls === undefined ? new ReusedReadBuffer() : undefined;
    this.clientDials++;
    let clientData: net.Socket;
    try {
      clientData = await dial({
        host: plan.clientTarget.host,
        port: plan.clientTarget.port,
        timeoutMs: this.options.connectTimeoutMs,
        localAddress: this.clientSideAddress(),
        allowHalfOpen: true,
        ...(clientReader === undefined ? {} : { onread: clientReader.onread }),
      });
    } catch (error) {
      return { ok: false, error: errorMessage(error) };
    } finally {
      this.clientDials--;
    }
    if (this.closed) {
      clientData.destroy();
      return { ok: false, error: 'session closed' };
    }
    clientData.pause();
    onClientReached();
    this.commit('active', clientData, clientReader, plan.upstreamPort, startedAt, () => undefined, dataTls);
    return { ok: true };
  }

  /**
   * ABOR: every open relay is closed (reason `aborted`) and the data connections being made are
   * dropped. A server blocked writing into a relay its client no longer reads sees its write fail,
   * ends the transfer (426) and reads the ABOR; RFC 959 has the server close the data connection
   * on ABOR anyway. The prepared plan stays: no transfer has used it.
   */
  abortTransfers(): void {
    for (const relay of this.relays) relay.close('aborted');
    for (const socket of this.connecting) socket.destroy();
  }

  /** Ends every plan, half-made data connection and relay. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.kernelPassive?.close();
    this.rollback();
    for (const relay of this.relays) relay.close('session-closed');
    for (const socket of this.connecting) socket.destroy();
    this.connecting.clear();
  }

  private onPassiveConnection(plan: PassivePlan, accepted: net.Socket): void {
    accepted.on('error', () => accepted.destroy());
    if (this.closed || this.plan !== plan) {
      accepted.destroy();
      return;
    }
    const headers = this.options.client.dataProxyHeaders;
    if (headers !== undefined && matchesAny(headers.trusted, accepted.remoteAddress ?? '')) {
      // proxyProtocolData: the balancer names the real client first; the check below compares that.
      this.connecting.add(accepted);
      void readProxyHeader(accepted, headers.timeoutMs).then((read) => {
        this.connecting.delete(accepted);
        if (read.ok) return this.onPassivePeer(plan, accepted, read.header.addresses?.source.host ?? accepted.remoteAddress, true);
        this.options.refuse(read.reason, { peer: accepted.remoteAddress, port: plan.lease.port, detail: read.detail });
        accepted.destroy();
      });
      return;
    }
    this.onPassivePeer(plan, accepted, accepted.remoteAddress, false);
  }

  /** `peer`: the socket's, or the one its PROXY header named (`afterHeader`: bytes were read, so no adoption). */
  private onPassivePeer(plan: PassivePlan, accepted: net.Socket, peer: string | undefined, afterHeader: boolean): void {
    if (this.closed || this.plan !== plan || accepted.destroyed) {
      accepted.destroy();
      return;
    }
    if (!isAllowedDataPeer(peer, this.options.client.peer.host)) {
      this.options.refuse('foreign_data_peer', { peer, port: plan.lease.port });
      accepted.destroy();
      return;
    }
    const dataTls = this.options.clientDataTls?.();
    const { socket, reader } =
      dataTls === undefined && !afterHeader ? adoptWithReusedBuffer(accepted, new ReusedReadBuffer()) : { socket: accepted, reader: undefined };
    if (socket !== accepted) socket.on('error', () => socket.destroy());
    clearTimeout(plan.timer);
    plan.lease.stopListening();
    this.plan = undefined;
    this.commit('passive', socket, reader, plan.upstreamPort, performance.now(), () => plan.lease.release(), dataTls);
  }

  /** The client's data socket is connected: connect upstream and relay, or undo. */
  private commit(
    mode: DataMode,
    clientData: net.Socket,
    clientReader: ReusedReadBuffer | undefined,
    upstreamPort: number,
    startedAt: number,
    releasePort: () => void,
    dataTls?: ClientDataTls,
  ): void {
    this.connecting.add(clientData);
    // A TLS socket is read by the TLS layer from its handle: no reused read buffer under it.
    const upstreamReader = this.options.upstreamDataTls === undefined ? new ReusedReadBuffer() : undefined;
    // The TLS handshake runs while the upstream is dialled: clients (curl, ftplib) wait for the
    // server's 150 before their handshake, and the server sends it only once its data connection is up.
    const secured = dataTls?.(clientData);
    const settled = this.dialUpstream(upstreamPort, upstreamReader).then(
      async (upstreamData) => {
        upstreamData.pause();
        const client = secured === undefined ? clientData : await this.secureClientData(secured, upstreamData, mode);
        this.connecting.delete(clientData);
        if (client === undefined || this.closed || client.destroyed) {
          upstreamData.destroy();
          // A refused TLS data connection is closed by the TLS layer, close_notify first.
          if (client !== undefined || secured === undefined || this.closed) clientData.destroy();
          releasePort();
          return;
        }
        this.startRelay(client, upstreamData, mode, startedAt, releasePort, clientReader, upstreamReader);
      },
      (error: unknown) => {
        this.connecting.delete(clientData);
        void secured?.then((result) => result.ok && result.socket.destroy());
        clientData.destroy();
        releasePort();
        this.options.metrics.upstreamError('data_connect');
        this.options.log.error({ err: errorMessage(error) }, 'upstream data connection failed');
      },
    );
    const tracked = settled.finally(() => {
      if (this.settlingSetup === tracked) this.settlingSetup = undefined;
      this.options.onSettled();
    });
    this.settlingSetup = tracked;
  }

  /**
   * The client's TLS data socket, or undefined when its handshake failed or it did not resume
   * the control connection's session: the upstream data connection is then reset, not ended,
   * so the server sees a failed transfer (an upload is not stored as complete).
   */
  private async secureClientData(secured: Promise<DataTlsResult>, upstreamData: net.Socket, mode: DataMode): Promise<net.Socket | undefined> {
    const result = await secured;
    if (this.closed) return undefined;
    this.options.metrics.tlsHandshake('client_data', result.ok ? 'success' : result.reason === 'not-reused' ? 'not_resumed' : 'failure', result.ok ? result.protocol : undefined);
    if (result.ok) {
      this.options.log.info({ mode, protocol: result.protocol, resumed: result.reused }, 'data connection is TLS');
      return result.socket;
    }
    const reason = result.reason === 'not-reused' ? 'tls_session_not_reused' : 'tls_handshake';
    this.options.refuse(reason, { mode, error: result.error });
    this.tlsRefusal = result.reason === 'not-reused' ? 'session reuse required' : 'TLS handshake failed';
    upstreamData.resetAndDestroy();
    return undefined;
  }

  private async dialUpstream(port: number, reader: ReusedReadBuffer | undefined): Promise<net.Socket> {
    const socket = await this.dialUpstreamTcp(port, reader);
    const secure = this.options.upstreamDataTls;
    if (secure === undefined) return socket;
    this.connecting.add(socket);
    try {
      return await secure(socket, this.options.connectTimeoutMs);
    } finally {
      this.connecting.delete(socket);
    }
  }

  private dialUpstreamTcp(port: number, reader: ReusedReadBuffer | undefined): Promise<net.Socket> {
    const upstream = this.options.upstream();
    if (upstream === undefined || upstream.peer.host === '') return Promise.reject(new Error('no upstream control connection'));
    return dial({
      host: upstream.peer.host,
      port,
      timeoutMs: this.options.connectTimeoutMs,
      // The same source address as the control connection: servers check that they match.
      localAddress: upstream.local.host === '' ? undefined : upstream.local.host,
      allowHalfOpen: true,
      ...(reader === undefined ? {} : { onread: reader.onread }),
      proxyHeader: upstreamProxyHeader(this.options.client, 'data'),
    });
  }

  private startRelay(
    clientData: net.Socket,
    upstreamData: net.Socket,
    mode: DataMode,
    startedAt: number,
    releasePort: () => void,
    clientReader: ReusedReadBuffer | undefined,
    upstreamReader: ReusedReadBuffer | undefined,
  ): void {
    const { metrics, log } = this.options;
    metrics.dataConnection(mode, (performance.now() - startedAt) / 1000);
    const onClose = (result: RelayResult): void => {
      releasePort();
      this.relays.delete(relay);
      if (result.reason === 'stalled') this.options.refuse('data_stall', { mode, stallTimeoutMs: this.options.stallTimeoutMs });
      metrics.dataBytes('to_client', result.bytesToClient);
      metrics.dataBytes('to_server', result.bytesToUpstream);
      log.info(
        { mode, reason: result.reason, bytesToClient: result.bytesToClient, bytesToServer: result.bytesToUpstream },
        'data connection closed',
      );
      this.options.onSettled();
    };
    const relay: DataRelay = new DataRelay(
      clientData,
      upstreamData,
      onClose,
      { client: clientReader, upstream: upstreamReader },
      { stallTimeoutMs: this.options.stallTimeoutMs },
    );
    if (relay.isClosed) return;
    this.relays.add(relay);
    this.newestRelay = relay;
  }

  /** ftpmasq's end of the client's control connection; a socket gone before it was adopted has none. */
  private clientSideAddress(): string {
    const local = this.options.client.local.host;
    return local === '' ? '0.0.0.0' : local;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
