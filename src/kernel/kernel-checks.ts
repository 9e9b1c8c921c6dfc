import { readFile } from 'node:fs/promises';
import type { NftRunner } from './nft-command.js';

/** Kernel mode cannot start: the message says what is missing and what to do. */
export class KernelSetupError extends Error {
  constructor(message: string) {
    super(`--mode kernel: ${message}`);
    this.name = 'KernelSetupError';
  }
}

/** capabilities(7): CAP_NET_ADMIN is bit 12. */
export const CAP_NET_ADMIN_BIT = 12;

/**
 * Whether the `CapEff:` line of /proc/self/status has the bit set. Pure; `undefined` when the
 * text has no readable CapEff line (then the nft run itself is the test).
 */
export function hasEffectiveCapability(statusText: string, bit: number): boolean | undefined {
  const match = /^CapEff:\s*([0-9a-fA-F]{1,16})\s*$/m.exec(statusText);
  if (match?.[1] === undefined) return undefined;
  return ((BigInt(`0x${match[1]}`) >> BigInt(bit)) & 1n) === 1n;
}

/** The value of /proc/sys/net/ipv4/ip_forward: forwarding is on when it is `1`. */
export function isForwardingOn(sysctlText: string): boolean {
  return sysctlText.trim() === '1';
}

export interface KernelCheckSources {
  readonly procStatus: () => Promise<string>;
  readonly ipForward: () => Promise<string>;
}

const PROC_SOURCES: KernelCheckSources = {
  procStatus: () => readFile('/proc/self/status', 'utf8'),
  ipForward: () => readFile('/proc/sys/net/ipv4/ip_forward', 'utf8'),
};

/**
 * The start-up checks of kernel mode, in order, each failing with its own error: nft can be run,
 * the process has CAP_NET_ADMIN, and this network namespace forwards IPv4. ftpmasq never turns
 * forwarding on itself: that is the operator's choice for the whole host.
 */
export async function checkKernelPrerequisites(nft: NftRunner, sources: KernelCheckSources = PROC_SOURCES): Promise<void> {
  const version = await nft.run(['--version']);
  if (!version.ok) throw new KernelSetupError(`cannot run nft: ${version.error}`);
  const capable = hasEffectiveCapability(await sources.procStatus().catch(() => ''), CAP_NET_ADMIN_BIT);
  if (capable === false) {
    throw new KernelSetupError(
      'the process lacks CAP_NET_ADMIN, which changing nftables rules needs: run as root or grant it ' +
        '(systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE)',
    );
  }
  const forward = await sources.ipForward().catch(() => '');
  if (!isForwardingOn(forward)) {
    throw new KernelSetupError(
      `net.ipv4.ip_forward is ${forward.trim() || 'unreadable'} in this network namespace; kernel mode forwards data packets, ` +
        'so set it to 1 (sysctl -w net.ipv4.ip_forward=1, and net.ipv4.ip_forward = 1 in /etc/sysctl.d/ to keep it); ftpmasq does not change it',
    );
  }
}
