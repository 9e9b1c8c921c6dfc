/**
 * What the process does with signals, apart from the process itself so tests can send signals
 * in-process: SIGHUP re-reads the configuration and reloads; the first SIGTERM or SIGINT drains
 * (the running transfers finish, bounded by the drain timeout); a second one stops at once.
 */
import type { Logger } from '../observability/logger.js';
import type { DrainResult, RunningDaemon } from './daemon.js';

export const HANDLED_SIGNALS = ['SIGHUP', 'SIGTERM', 'SIGINT'] as const;
export type HandledSignal = (typeof HANDLED_SIGNALS)[number];

/** `process`, or an EventEmitter in tests. */
export interface SignalSource {
  on(signal: HandledSignal, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: HandledSignal, listener: (signal: NodeJS.Signals) => void): unknown;
}

/** A configuration as its loader hands it over: the value, its hash, and where it came from. */
import type { LoadedConfig } from '../config/load-config.js';

export type { LoadedConfig };

export interface SuperviseOptions {
  readonly logger: Logger;
  /** Reads the configuration again (SIGHUP); throws ConfigError for an invalid one. */
  readonly reload: () => LoadedConfig | Promise<LoadedConfig>;
}

export class Supervisor {
  private daemon: RunningDaemon | undefined;
  private options: SuperviseOptions | undefined;
  /** Signals that arrived before the daemon was running, handled as soon as it is. */
  private readonly early: NodeJS.Signals[] = [];
  private stopSignals = 0;
  private resolveStopped: ((result: DrainResult) => void) | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    if (this.daemon === undefined) this.early.push(signal);
    else this.handle(signal);
  };

  /** Takes the signals at once: Node's default for SIGHUP would end the process during start-up. */
  constructor(private readonly signals: SignalSource) {
    for (const signal of HANDLED_SIGNALS) signals.on(signal, this.onSignal);
  }

  /** Serves until a stop signal has drained (or stopped) the daemon. */
  run(daemon: RunningDaemon, options: SuperviseOptions): Promise<DrainResult> {
    this.daemon = daemon;
    this.options = options;
    const stopped = new Promise<DrainResult>((resolve) => {
      this.resolveStopped = resolve;
    });
    for (const signal of this.early.splice(0)) this.handle(signal);
    return stopped;
  }

  dispose(): void {
    for (const signal of HANDLED_SIGNALS) this.signals.off(signal, this.onSignal);
  }

  private handle(signal: NodeJS.Signals): void {
    const { daemon, options } = this;
    if (daemon === undefined || options === undefined) return;
    if (signal === 'SIGHUP') {
      void this.reload(daemon, options);
      return;
    }
    this.stopSignals += 1;
    if (this.stopSignals === 1) {
      options.logger.info({ signal }, 'shutting down');
      void daemon.drain().then((result) => this.resolveStopped?.(result));
    } else if (this.stopSignals === 2) {
      options.logger.warn({ signal }, 'second stop signal: closing every session now');
      void daemon.stop();
    }
  }

  private async reload(daemon: RunningDaemon, options: SuperviseOptions): Promise<void> {
    let loaded: LoadedConfig;
    try {
      loaded = await options.reload();
    } catch (error) {
      daemon.rejectReload(error instanceof Error ? error.message : String(error));
      return;
    }
    await daemon.reload(loaded.config, loaded.hash);
  }
}
