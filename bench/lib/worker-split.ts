/**
 * How `ftpmasq --workers N` shared one measurement: each process's CPU (the primary must do
 * nothing per byte) and each worker's data connections and bytes (from the `data connection
 * closed` lines its logger writes with its pid). Evidence for docs/PERFORMANCE.md, "Every core".
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { childrenOf, readCpu } from './proc.js';

export interface WorkerShare {
  readonly dataConnections: number;
  readonly bytesToClient: number;
}

/** Per pid: the data connections closed and the bytes they sent to clients, from pino JSON lines. */
export function dataConnectionsByPid(logText: string): Map<number, WorkerShare> {
  const shares = new Map<number, WorkerShare>();
  for (const line of logText.split('\n')) {
    if (!line.includes('"data connection closed"')) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null) continue;
    const pid: unknown = Reflect.get(parsed, 'pid');
    const bytes: unknown = Reflect.get(parsed, 'bytesToClient');
    if (typeof pid !== 'number' || typeof bytes !== 'number') continue;
    const before = shares.get(pid) ?? { dataConnections: 0, bytesToClient: 0 };
    shares.set(pid, { dataConnections: before.dataConnections + 1, bytesToClient: before.bytesToClient + bytes });
  }
  return shares;
}

function cpuOrNaN(pid: number): number {
  try {
    return readCpu(pid).self;
  } catch {
    return Number.NaN;
  }
}

/** Started before a measurement; `close()` gives the split over it. */
export class WorkerSplitWindow {
  private readonly logOffset: number;
  private readonly primaryBefore: number;
  private readonly workersBefore: Map<number, number>;

  constructor(
    private readonly primaryPid: number,
    private readonly logPath: string,
  ) {
    this.logOffset = statSync(logPath).size;
    this.primaryBefore = cpuOrNaN(primaryPid);
    this.workersBefore = new Map(childrenOf(primaryPid).map((pid) => [pid, cpuOrNaN(pid)]));
  }

  close(): Record<string, number> {
    const primaryCpuSeconds = cpuOrNaN(this.primaryPid) - this.primaryBefore;
    const workerCpu = [...this.workersBefore].map(([pid, before]) => cpuOrNaN(pid) - before);
    const shares = dataConnectionsByPid(this.readLogTail());
    const perWorker = [...this.workersBefore.keys()].map((pid) => shares.get(pid) ?? { dataConnections: 0, bytesToClient: 0 });
    const connections = perWorker.map((share) => share.dataConnections);
    const bytes = perWorker.map((share) => share.bytesToClient);
    const totalBytes = bytes.reduce((sum, value) => sum + value, 0);
    // No worker at the start (a primary that lost them all): NaN, not Math.min's Infinity.
    const min = (values: number[]): number => (values.length === 0 ? Number.NaN : Math.min(...values));
    const max = (values: number[]): number => (values.length === 0 ? Number.NaN : Math.max(...values));
    return {
      primaryCpuSeconds,
      workerCpuSecondsMin: min(workerCpu),
      workerCpuSecondsMax: max(workerCpu),
      workerDataConnectionsMin: min(connections),
      workerDataConnectionsMax: max(connections),
      // Of every byte the workers relayed to clients, the busiest worker's part (0.5 is even for two).
      workerBytesShareMax: totalBytes === 0 ? Number.NaN : max(bytes) / totalBytes,
      // Data connections logged by a process that was not a worker at the start (a restarted one).
      strayDataConnections: [...shares].filter(([pid]) => !this.workersBefore.has(pid)).reduce((sum, [, share]) => sum + share.dataConnections, 0),
    };
  }

  private readLogTail(): string {
    const fd = openSync(this.logPath, 'r');
    try {
      const length = statSync(this.logPath).size - this.logOffset;
      if (length <= 0) return '';
      const buffer = Buffer.alloc(length);
      const read = readSync(fd, buffer, 0, length, this.logOffset);
      return buffer.subarray(0, read).toString('utf8');
    } finally {
      closeSync(fd);
    }
  }
}
