import { spawn } from 'node:child_process';
import { LIST_COUNTERS_ARGS, type NftCommand } from './nft-ruleset.js';

/** What one `nft` run gave: its output, or why it failed (a value, as every peer input here). */
export type NftResult = { readonly ok: true; readonly stdout: string } | { readonly ok: false; readonly error: string };

export interface NftRunnerOptions {
  /** The nft executable; `nft` on the PATH by default. */
  readonly executable?: string;
  /** A run that takes longer is killed and fails. */
  readonly timeoutMs?: number;
  /** Each nft process started. */
  readonly onRun?: () => void;
}

const DEFAULT_TIMEOUT_MS = 5000;
/** nft prints a few lines; a runaway one is cut, not buffered without bound. */
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/**
 * `urgent`: a client waits for it (an installation, before the 227 goes out). `background`:
 * housekeeping (counter reads, removals), run when no urgent run waits.
 */
export type NftPriority = 'urgent' | 'background';

/**
 * The kernel calls of a running forwarder: NftSession (one long-lived nft, the default) or
 * NftRunner (one nft run per call).
 */
export interface NftRequests {
  /** One transaction of JSON commands. */
  apply(commands: readonly NftCommand[], priority?: NftPriority): Promise<NftResult>;
  /** Every counter of ftpmasq's table, as `nft -j list counters` prints them. */
  listCounters(priority?: NftPriority): Promise<NftResult>;
  /** Ends what the calls hold (a process). Idempotent. */
  close(): Promise<void>;
}

interface Job {
  readonly args: readonly string[];
  readonly resolve: (result: NftResult) => void;
}

/**
 * Runs the `nft` tool, one run at a time: each run is one kernel transaction (nft applies a
 * whole input atomically, so nothing half-made is ever seen by a packet), and one at a time
 * keeps the order within each priority. An urgent run overtakes queued background runs; the
 * callers keep that safe (a transfer's key is installed again only after its removal resolved).
 * A run is bounded by `timeoutMs` and its failure is a value; the queue goes on after it.
 */
export class NftRunner implements NftRequests {
  private readonly queues: Record<NftPriority, Job[]> = { urgent: [], background: [] };
  private running = false;
  private readonly executable: string;
  private readonly timeoutMs: number;

  constructor(private readonly options: NftRunnerOptions = {}) {
    this.executable = options.executable ?? 'nft';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /**
   * One transaction of JSON commands (`nft -j '<json>'`). The input is an argument, not stdin:
   * nft opens /dev/stdin by name, which fails (ENXIO) on the socket Node gives a child as stdin.
   * A transfer's commands are a few hundred bytes, far below the kernel's argument limit.
   */
  apply(commands: readonly NftCommand[], priority: NftPriority = 'urgent'): Promise<NftResult> {
    return this.run(['-j', JSON.stringify({ nftables: commands })], priority);
  }

  /** One transaction in nft's own syntax, its commands one a line (`nft '<script>'`). */
  applyScript(script: string): Promise<NftResult> {
    return this.run([script]);
  }

  listCounters(priority: NftPriority = 'background'): Promise<NftResult> {
    return this.run(LIST_COUNTERS_ARGS, priority);
  }

  /** Each run ends itself: nothing to end. */
  close(): Promise<void> {
    return Promise.resolve();
  }

  run(args: readonly string[], priority: NftPriority = 'urgent'): Promise<NftResult> {
    return new Promise((resolve) => {
      this.queues[priority].push({ args, resolve });
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (let job = this.next(); job !== undefined; job = this.next()) {
        this.options.onRun?.();
        job.resolve(await runOnce(this.executable, job.args, this.timeoutMs));
      }
    } finally {
      this.running = false;
    }
  }

  private next(): Job | undefined {
    return this.queues.urgent.shift() ?? this.queues.background.shift();
  }
}

function runOnce(executable: string, args: readonly string[], timeoutMs: number): Promise<NftResult> {
  return new Promise((resolve) => {
    // The first words name the run in errors; a transfer's JSON would only bury nft's message.
    const command = `${executable} ${args.join(' ').slice(0, 60)}`;
    const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (result: NftResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ ok: false, error: `${command} did not finish within ${timeoutMs} ms` });
    }, timeoutMs);
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT_BYTES) child.kill('SIGKILL');
      else into.push(chunk);
    };
    child.stdout?.on('data', collect(stdout));
    child.stderr?.on('data', collect(stderr));
    child.on('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'ENOENT' ? `${executable} not found (install the nftables package)` : error.message;
      finish({ ok: false, error: why });
    });
    child.on('close', (code, signal) => {
      if (code === 0) {
        finish({ ok: true, stdout: Buffer.concat(stdout).toString('utf8') });
        return;
      }
      const message = Buffer.concat(stderr).toString('utf8').trim().split('\n').filter((line) => line.trim() !== '').slice(0, 3).join(' | ');
      finish({ ok: false, error: `${command} exited ${code ?? signal}: ${message}` });
    });
  });
}
