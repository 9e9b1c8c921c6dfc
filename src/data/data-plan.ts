/** What a DataConnector is given (its options) and what it holds between prepare and commit (a plan). */
import type net from 'node:net';
import type { KernelForwarder } from '../kernel/kernel-forwarder.js';
import type { Conn } from '../net/conn.js';
import type { DataTlsResult } from '../net/tls-session.js';
import type { Logger } from '../observability/logger.js';
import type { RefusalReason, SiteMetrics } from '../observability/metrics.js';
import type { HostPort } from '../protocol/data-addresses.js';
import type { PassivePortPool, PortLease } from './passive-port-pool.js';

/** Active mode: the client's checked PORT/EPRT address, and the server's passive port for it. */
export interface ActivePlan {
  readonly clientTarget: HostPort;
  readonly upstreamPort: number;
}

export type PassivePlan = {
  readonly kind: 'passive';
  readonly lease: PortLease;
  readonly upstreamPort: number;
  readonly timer: NodeJS.Timeout;
};
export type Plan = PassivePlan | ({ readonly kind: 'active' } & ActivePlan);

/** PROT P: makes the client's data socket a TLS server socket, checking session reuse. */
export type ClientDataTls = (socket: net.Socket) => Promise<DataTlsResult>;

export type ActiveDialResult = { readonly ok: true } | { readonly ok: false; readonly error: string };

export interface DataConnectorOptions {
  readonly pool: PassivePortPool;
  readonly metrics: SiteMetrics;
  readonly log: Logger;
  /** For every dial: the upstream's data port, and in active mode the client's. */
  readonly connectTimeoutMs: number;
  /** How long a passive port waits for the client's connection. */
  readonly passiveTimeoutMs: number;
  /** A relay that moves no byte either way for this long is closed. */
  readonly stallTimeoutMs: number;
  /**
   * The client's control connection: a passive data connection must come from its peer address;
   * ftpmasq's end of it is where passive ports listen and where active dials start from.
   */
  readonly client: Conn;
  /** The upstream control connection, once made: data is dialled to its address, from its source address. */
  readonly upstream: () => Conn | undefined;
  readonly refuse: (reason: RefusalReason, details: Readonly<Record<string, unknown>>) => void;
  /** A relay closed or a set-up settled: the session may have no data connection left. */
  readonly onSettled: () => void;
  /** Asked as each client data connection is made: set while PROT P is in effect. */
  readonly clientDataTls?: (() => ClientDataTls | undefined) | undefined;
  /** Kernel mode: the process's nftables forwarder (src/kernel/); undefined in the other modes. */
  readonly kernel?: KernelForwarder | undefined;
  /** With TLS towards the server: makes each upstream data connection TLS (net/upstream-tls.ts). */
  readonly upstreamDataTls?: UpstreamDataTls | undefined;
}

/** Makes a dialled upstream data socket TLS, resuming the upstream control connection's session. */
export type UpstreamDataTls = (socket: net.Socket, timeoutMs: number) => Promise<net.Socket>;

