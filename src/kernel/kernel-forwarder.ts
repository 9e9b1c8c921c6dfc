import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observability/logger.js';
import { checkKernelPrerequisites, type KernelCheckSources, KernelSetupError } from './kernel-checks.js';
import { type NftRequests, type NftResult, NftRunner } from './nft-command.js';
import { type NftRestartReason, NftSession, type NftSessionOptions } from './nft-session.js';
import {
  buildDeleteTableCommands,
  buildDisarmCommands,
  buildForwardCommands,
  buildUncountCommands,
  type ForwardCounters,
  forwardCounters,
  type KernelForwardSpec,
  type NftCommand,
  parseCounterList,
  TABLE_SCRIPT,
} from './nft-ruleset.js';

/** One transfer's forwarding in the kernel; its owner is the session's DataConnector. */
export interface KernelForward {
  readonly spec: KernelForwardSpec;
  /** The passive timeout: no new connection is forwarded any more; an established flow goes on. Idempotent. */
  disarm(): void;
  /**
   * Lets the counters settle (`settle`: until they stop moving, bounded), reads them and removes
   * the whole forwarding in one transaction. Idempotent: every call gets the one result.
   */
  finish(settle: boolean): Promise<ForwardCounters>;
}

interface Removal {
  readonly commands: readonly NftCommand[];
  readonly done: () => void;
}

/** What the forwarder reports about its nft processes (the daemon counts them in metrics). */
export interface NftEvents {
  /** An nft process started: a one-shot `run` (start-up checks, the table) or the long-lived `session`. */
  started(process: 'run' | 'session'): void;
  /** The long-lived nft failed a request (or died) and was ended; the next request starts another. */
  restarted(reason: NftRestartReason): void;
}

export interface KernelForwarderOptions {
  /**
   * One-shot nft runs: the start-up checks and the table. Given without `session` (a stand-in nft
   * in tests), it also carries every transfer's calls, one run each, as before the long-lived nft.
   */
  readonly nft?: NftRunner;
  /** The long-lived `nft -j -i` that carries every transfer's calls (nft-session.ts). */
  readonly session?: NftSessionOptions;
  readonly events?: NftEvents;
  readonly checkSources?: KernelCheckSources;
  /** How often the counters are read while a finished transfer's last packets pass. */
  readonly settleIntervalMs?: number;
  /** The longest a finished transfer's counters are watched before they are read as they are. */
  readonly settleMaxMs?: number;
}

const NO_BYTES: ForwardCounters = { toServer: { packets: 0, bytes: 0 }, toClient: { packets: 0, bytes: 0 } };

function flowKey(spec: KernelForwardSpec): string {
  return `${spec.client}|${spec.server}|${spec.serverPort}`;
}

function sameCounters(a: ForwardCounters, b: ForwardCounters): boolean {
  return a.toServer.bytes === b.toServer.bytes && a.toClient.bytes === b.toClient.bytes;
}

/**
 * ftpmasq's nftables table, for the whole process: created (stale copies removed) by `start()`,
 * deleted by `stop()`, and between them one set of map elements per transfer (nft-ruleset.ts).
 * Every kernel call goes through one NftRunner, so they apply in the order they were asked.
 */
export class KernelForwarder {
  private readonly nft: NftRunner;
  /** The transfers' kernel calls, from start to stop: the long-lived nft, owned here. */
  private requests: NftRequests | undefined;
  private starting: Promise<void> | undefined;
  private stopped = false;
  private sequence = 0;
  /** Installed transfers by their flow (client, server, server port): a key the kernel maps hold once. */
  private readonly flows = new Map<string, KernelForward>();
  /** The counter listing in flight, shared by every transfer that reads meanwhile. */
  private listing: Promise<NftResult> | undefined;
  /** Removals waiting for the next batch: transfers that end together go in one nft run. */
  private readonly removals: Removal[] = [];
  private removing = false;

  constructor(
    private readonly log: Logger,
    private readonly options: KernelForwarderOptions = {},
  ) {
    const events = options.events;
    this.nft = options.nft ?? new NftRunner({ onRun: () => events?.started('run') });
  }

  /** Transfers installed and not yet removed. */
  get installed(): number {
    return this.flows.size;
  }

  /** The checks, then the table. Idempotent; a failure is a KernelSetupError and may be retried. */
  start(): Promise<void> {
    this.starting ??= this.startNow().catch((error: unknown) => {
      this.starting = undefined;
      throw error;
    });
    return this.starting;
  }

  /** Removes the table and with it every transfer's forwarding. Idempotent. */
  async stop(): Promise<void> {
    if (this.starting === undefined || this.stopped) return;
    this.stopped = true;
    this.flows.clear();
    const requests = this.requests;
    let result = (await requests?.apply(buildDeleteTableCommands())) ?? { ok: false, error: 'no nft' };
    await requests?.close();
    // A long-lived nft that cannot answer any more does not keep the table: one run deletes it.
    if (!result.ok && requests !== this.nft) result = await this.nft.apply(buildDeleteTableCommands());
    if (!result.ok) this.log.error({ err: result.error }, 'cannot delete the ftpmasq nftables table');
    else this.log.info('ftpmasq nftables table deleted');
  }

  /** Installs one transfer's forwarding in one transaction; undefined (logged) when it failed. */
  async install(fields: Omit<KernelForwardSpec, 'id'>): Promise<KernelForward | undefined> {
    if (this.stopped || this.starting === undefined) return undefined;
    const spec: KernelForwardSpec = { ...fields, id: `f${++this.sequence}` };
    const key = flowKey(spec);
    // The server reuses a passive port only once its earlier transfer ended: that one's counting is cut short.
    await this.flows.get(key)?.finish(false);
    const result = (await this.requests?.apply(buildForwardCommands(spec))) ?? { ok: false, error: 'stopped' };
    if (!result.ok) {
      this.log.error({ err: result.error, forward: spec }, 'cannot install the kernel forwarding of a transfer');
      return undefined;
    }
    const forward = this.makeForward(spec);
    this.flows.set(key, forward);
    return forward;
  }

  private async startNow(): Promise<void> {
    await checkKernelPrerequisites(this.nft, this.options.checkSources);
    const result = await this.nft.applyScript(TABLE_SCRIPT);
    if (!result.ok) throw new KernelSetupError(`cannot create the nftables table ip ftpmasq: ${result.error}`);
    this.log.info('ftpmasq nftables table created (a stale one from an earlier run removed)');
    this.requests = this.options.nft !== undefined && this.options.session === undefined ? this.nft : await this.startSession();
  }

  private async startSession(): Promise<NftSession> {
    const events = this.options.events;
    const session = new NftSession(this.log, {
      ...this.options.session,
      onStart: () => events?.started('session'),
      onRestart: (reason) => events?.restarted(reason),
    });
    // The first request proves that this nft answers as the framing expects (a reply ended by the
    // sentinel, and nothing in it but the listing), before a client relies on it.
    const listed = await session.listCounters('urgent');
    const parsed = listed.ok ? parseCounterList(listed.stdout) : { ok: false as const, reason: listed.error };
    if (parsed.ok) return session;
    await session.close();
    await this.nft.apply(buildDeleteTableCommands());
    throw new KernelSetupError(`nft -j -i does not answer as expected: ${parsed.reason}`);
  }

  private makeForward(spec: KernelForwardSpec): KernelForward {
    let disarming: Promise<void> | undefined;
    let finishing: Promise<ForwardCounters> | undefined;
    const forward: KernelForward = {
      spec,
      disarm: () => {
        if (finishing === undefined) disarming ??= this.remove(buildDisarmCommands(spec));
      },
      finish: (settle) => {
        finishing ??= (async () => {
          // Until then a connection already made is counted; the one-packet limit is spent by it.
          const counters = settle ? await this.settledCounters(spec) : await this.readCounters(spec);
          const disarmed = disarming !== undefined;
          await disarming;
          await this.remove([...(disarmed ? [] : buildDisarmCommands(spec)), ...buildUncountCommands(spec)]);
          if (this.flows.get(flowKey(spec)) === forward) this.flows.delete(flowKey(spec));
          return counters;
        })();
        return finishing;
      },
    };
    return forward;
  }

  /** Queues a removal; resolves once it ran (or failed: logged, the table's deletion at stop ends it anyway). */
  private remove(commands: readonly NftCommand[]): Promise<void> {
    return new Promise((done) => {
      this.removals.push({ commands, done });
      void this.flushRemovals();
    });
  }

  private async flushRemovals(): Promise<void> {
    if (this.removing) return;
    this.removing = true;
    try {
      while (this.removals.length > 0) {
        const batch = this.removals.splice(0);
        const result = await this.applyBackground(batch.flatMap((removal) => removal.commands));
        // One transaction is all or nothing: when a batch fails, each removal is tried alone.
        if (!result.ok && batch.length > 1) {
          for (const removal of batch) await this.removeAlone(removal.commands);
        } else if (!result.ok && !this.stopped) {
          this.log.debug({ err: result.error }, 'kernel forwarding removal failed');
        }
        for (const removal of batch) removal.done();
      }
    } finally {
      this.removing = false;
    }
  }

  private async removeAlone(commands: readonly NftCommand[]): Promise<void> {
    const result = await this.applyBackground(commands);
    if (!result.ok && !this.stopped) this.log.debug({ err: result.error }, 'kernel forwarding removal failed');
  }

  private async applyBackground(commands: readonly NftCommand[]): Promise<NftResult> {
    return (await this.requests?.apply(commands, 'background')) ?? { ok: false, error: 'stopped' };
  }

  private async readCounters(spec: KernelForwardSpec): Promise<ForwardCounters> {
    if (this.stopped) return NO_BYTES;
    // One listing serves every transfer finishing meanwhile (50 parallel downloads end together),
    // so installations queued behind the reads are not held up by one nft run per transfer.
    this.listing ??= (this.requests?.listCounters('background') ?? Promise.resolve<NftResult>({ ok: false, error: 'stopped' })).finally(() => {
      this.listing = undefined;
    });
    const listed = await this.listing;
    if (!listed.ok) return NO_BYTES;
    const parsed = parseCounterList(listed.stdout);
    return parsed.ok ? forwardCounters(spec, parsed.value) : NO_BYTES;
  }

  /**
   * The server's final reply can come before its last bytes have crossed the gateway (as through
   * any NAT): the counters are read until two readings agree, for at most settleMaxMs.
   */
  private async settledCounters(spec: KernelForwardSpec): Promise<ForwardCounters> {
    const interval = this.options.settleIntervalMs ?? 100;
    const deadline = performance.now() + (this.options.settleMaxMs ?? 3000);
    let previous = await this.readCounters(spec);
    while (performance.now() < deadline && !this.stopped) {
      await sleep(interval);
      const current = await this.readCounters(spec);
      if (sameCounters(previous, current)) return current;
      previous = current;
    }
    return previous;
  }
}
