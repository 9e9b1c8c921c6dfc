/**
 * What the daemon offers the rest of the program (cli, supervisor, workers, tests): its states,
 * start options, and the answers of reload and drain. The implementation is daemon.ts.
 */
import type { DaemonConfig } from '../config/types.js';
import type { Endpoint } from '../config/values.js';
import type { Logger } from '../observability/logger.js';
import type { LiveView } from '../observability/live-view.js';
import type { Metrics } from '../observability/metrics.js';
import type { SharedAdmission } from './admission-client.js';
import type { ResolveName } from './public-address.js';
import type { SiteChange } from './reload-plan.js';

export type DaemonState = 'running' | 'draining' | 'stopped';

export interface StartOptions {
  readonly logger: Logger;
  readonly metrics?: Metrics;
  /** The configuration's hash as its loader computed it; computed here when not given. */
  readonly configHash?: string;
  /** How a `publicAddress` given as a DNS name is looked up (tests); `dns.lookup` by default. */
  readonly resolveName?: ResolveName;
  /** A worker of `workers: N`: the session limits are counted by the primary (admission-client.ts). */
  readonly sharedAdmission?: SharedAdmission;
}

export type ReloadResult =
  | {
      readonly ok: true;
      readonly hash: string;
      readonly previousHash: string;
      readonly added: readonly string[];
      readonly removed: readonly string[];
      readonly changed: readonly SiteChange[];
      readonly unchanged: readonly string[];
    }
  | { readonly ok: false; readonly hash: string; readonly error: string };

export interface DrainResult {
  /** Sessions closed while a transfer or a command was still in flight. */
  readonly cut: number;
  /** The drain timeout ran out before every session was idle. */
  readonly timedOut: boolean;
  /** stop() was called during the drain (a second signal). */
  readonly forced: boolean;
}

export interface RunningDaemon {
  readonly state: DaemonState;
  /** Every bound control listener, sites in configuration order (port 0 becomes the real port here). */
  readonly addresses: readonly Endpoint[];
  /** The bound control listeners of each site of the running configuration. */
  readonly siteAddresses: ReadonlyMap<string, readonly Endpoint[]>;
  readonly metrics: Metrics;
  /** Where /metrics, /healthz and /readyz are served; undefined when turned off. */
  readonly metricsAddress: Endpoint | undefined;
  readonly config: DaemonConfig;
  readonly configHash: string;
  /** This process's sessions as /sessions shows them; a worker answers the primary's view with it. */
  readonly liveView: LiveView;
  /** Open sessions of every site, those of removed sites still draining included. */
  sessionCount(): number;
  /** What /readyz answers: running, and every site's upstream answered its last check. */
  readiness(): { ready: boolean; detail: string };
  /** Applies `next` as a transaction; on failure the running configuration stays. */
  reload(next: DaemonConfig, hash?: string): Promise<ReloadResult>;
  /** A reload that could not even produce a configuration (an invalid file): logged and counted. */
  rejectReload(error: string): ReloadResult;
  /**
   * Closes the listeners, lets running transfers finish, closes every session with 421, then stops.
   * `timeoutMs` (default: the configuration's drainTimeoutMs) bounds the wait.
   */
  drain(timeoutMs?: number): Promise<DrainResult>;
  /** Stops accepting, closes every session and releases every port, at once. */
  stop(): Promise<void>;
}
