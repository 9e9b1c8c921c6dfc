import type { Endpoint } from '../config/values.js';
import { dial } from '../net/dial.js';
import type { SiteMetrics } from '../observability/metrics.js';

export interface UpstreamTarget {
  readonly upstream: Endpoint;
  readonly upstreamConnectTimeoutMs: number;
}

/**
 * /readyz's view of one site's upstream: a TCP connect every interval (closed at once, no FTP
 * login). `ftpmasq_upstream_up{site}` follows each result.
 */
export class UpstreamCheck {
  reachable = true;
  lastError = '';
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(
    private target: UpstreamTarget,
    private readonly metrics: SiteMetrics,
    private readonly intervalMs = 10_000,
  ) {
    metrics.upstreamReachable(true);
  }

  start(): void {
    this.stopped = false;
    void this.check();
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  /** A reload that changed the upstream: check the new one at once. */
  retarget(target: UpstreamTarget): void {
    this.target = target;
    this.start();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
  }

  private async check(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const target = this.target;
    try {
      const socket = await dial({
        host: target.upstream.host,
        port: target.upstream.port,
        timeoutMs: target.upstreamConnectTimeoutMs,
        allowHalfOpen: false,
      });
      socket.destroy();
      this.record(target, true, '');
    } catch (error) {
      this.metrics.upstreamError('connect');
      this.record(target, false, error instanceof Error ? error.message : String(error));
    } finally {
      this.running = false;
    }
    // retarget() during this check: the new upstream is checked now, not at the next interval.
    if (target !== this.target && !this.stopped) void this.check();
  }

  private record(target: UpstreamTarget, reachable: boolean, error: string): void {
    // A result for an upstream a reload replaced, or after stop, says nothing about the current one.
    if (this.stopped || target !== this.target) return;
    this.reachable = reachable;
    this.lastError = error;
    this.metrics.upstreamReachable(reachable);
  }
}
