/**
 * A site's `publicAddress` given as a DNS name: resolved when the site starts and again every
 * `publicAddressRefresh`, for operators whose public address changes (a dynamic IP behind a DDNS
 * name). Sessions read `current` at each 227, so a new address is advertised from the next PASV
 * on. A failed lookup keeps the last good address; it is counted every time and logged once per
 * streak of failures (and once when the name resolves again).
 */
import dns from 'node:dns/promises';
import type { Logger } from '../observability/logger.js';
import type { SiteMetrics } from '../observability/metrics.js';
import { isValidIp } from '../protocol/address-policy.js';

/** An IPv4 address for a name (a 227 names IPv4 only); rejects when there is none. */
export type ResolveName = (name: string) => Promise<string>;

export const lookupIpv4: ResolveName = async (name) => (await dns.lookup(name, { family: 4 })).address;

/** A configured `publicAddress` that is a name, not an IP address: it needs a PublicAddress. */
export function isPublicAddressName(publicAddress: string | undefined): publicAddress is string {
  return publicAddress !== undefined && !isValidIp(publicAddress);
}

export class PublicAddress {
  private address: string | undefined;
  private failing = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** Settles after the first lookup, good or not (tests, and a start that wants to wait). */
  readonly firstLookup: Promise<void>;

  constructor(
    readonly name: string,
    readonly refreshMs: number,
    private readonly resolve: ResolveName,
    private readonly metrics: Pick<SiteMetrics, 'publicAddressLookupFailed'>,
    private readonly log: Logger,
  ) {
    this.firstLookup = this.refresh();
  }

  /** The last good address; undefined until the name first resolves. */
  get current(): string | undefined {
    return this.address;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async refresh(): Promise<void> {
    try {
      const address = await this.resolve(this.name);
      if (this.stopped) return;
      if (address !== this.address || this.failing) this.log.info({ name: this.name, address, previous: this.address ?? null }, 'public address resolved');
      this.address = address;
      this.failing = false;
    } catch (error) {
      if (this.stopped) return;
      this.metrics.publicAddressLookupFailed();
      if (!this.failing) {
        this.failing = true;
        const err = error instanceof Error ? error.message : String(error);
        this.log.warn({ name: this.name, err, keeping: this.address ?? null }, 'public address lookup failed');
      }
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.refresh(), this.refreshMs);
    // A refresh never keeps the process alive: the listeners and sessions do.
    this.timer.unref();
  }
}
