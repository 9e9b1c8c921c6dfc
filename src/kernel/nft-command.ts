import { spawn } from 'node:child_process';
import { type NftCommand } from './nft-ruleset.js';

/** What one `nft` run gave: its output, or why it failed (a value, as every peer input here). */
export type NftResult = { readonly ok: true; readonly stdout: string } | { readonly ok: false; readonly error: string };

export interface NftRunnerOptions {
  /** The nft executable; `nft` on the PATH by default. */
  readonly executable?: string;
  /** A run that takes longer is killed and fails. */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
/** nft prints a few lines; a runaway one is cut, not buffered without bound. */
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

/**
 * Runs the `nft` tool, one run at a time. Serialized because each run is one kernel transaction
 * and their order matters (a transfer's removal must follow its installation); `nft -f` applies
 * a whole input atomically, so nothing half-made is ever seen by a packet. A run is bounded by
 * `timeoutMs` and its failure is a value; the queue goes on after it.
 */
export class NftRunner {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly executable: string;
  private readonly timeoutMs: number;

  constructor(options: NftRunnerOptions = {}) {
    this.executable = options.executable ?? 'nft';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** One transaction of JSON commands (`nft -j -f -`). */
  apply(commands: readonly NftCommand[]): Promise<NftResult> {
    return this.run(['-j', '-f', '-'], JSON.stringify({ nftables: commands }));
  }

  /** One transaction in nft's own syntax (`nft -f -`). */
  applyScript(script: string): Promise<NftResult> {
    return this.run(['-f', '-'], script);
  }

  run(args: readonly string[], stdin?: string): Promise<NftResult> {
    const result = this.tail.then(() => runOnce(this.executable, args, stdin, this.timeoutMs));
    this.tail = result;
    return result;
  }
}

function runOnce(executable: string, args: readonly string[], stdin: string | undefined, timeoutMs: number): Promise<NftResult> {
  return new Promise((resolve) => {
    const command = `${executable} ${args.join(' ')}`;
    const child = spawn(executable, args, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
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
    // An nft that exits before reading its input (a bad option) closes the pipe: that is its error to report.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin);
  });
}
