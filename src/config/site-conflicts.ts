/**
 * Checks between sites that no single key can make: unique names, listeners that would take
 * the same port, passive ranges that would hand out the same port. Pure: the first conflict is
 * returned as a value naming both sites.
 */
import ipaddr from 'ipaddr.js';
import type { SiteConfig } from './types.js';
import { type Endpoint, formatEndpoint, formatPortRange, type PortRange } from './values.js';

export interface SiteConflict {
  /** Key path of the later site's value, e.g. `['sites', 1, 'passivePorts']`. */
  readonly path: readonly (string | number)[];
  readonly expected: string;
  readonly received: string;
  /** The one-line explanation, naming both sites. */
  readonly detail: string;
}

interface BindScope {
  readonly family: 4 | 6;
  /** 0.0.0.0 or [::]. */
  readonly wildcard: boolean;
  readonly address: string;
}

function bindScope(host: string): BindScope {
  let parsed = ipaddr.parse(host);
  // ::ffff:127.0.0.1 is bound as 127.0.0.1 and takes the IPv4 port.
  if (parsed instanceof ipaddr.IPv6 && parsed.isIPv4MappedAddress()) parsed = parsed.toIPv4Address();
  if (parsed instanceof ipaddr.IPv4) {
    return { family: 4, wildcard: parsed.range() === 'unspecified', address: parsed.toString() };
  }
  return { family: 6, wildcard: parsed.range() === 'unspecified', address: parsed.toNormalizedString() };
}

/**
 * Whether two control listeners would fight over one port: same port (not 0, which is any free
 * port) and the same address, or a wildcard covering the other. `[::]` is dual-stack, so it
 * covers IPv4 addresses too; `0.0.0.0` covers every IPv4 address and no IPv6 one.
 */
export function listenersOverlap(a: Endpoint, b: Endpoint): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  const first = bindScope(a.host);
  const second = bindScope(b.host);
  if ((first.family === 6 && first.wildcard) || (second.family === 6 && second.wildcard)) return true;
  if (first.family !== second.family) return false;
  return first.wildcard || second.wildcard || first.address === second.address;
}

export function portRangesOverlap(a: PortRange, b: PortRange): boolean {
  return a.low <= b.high && b.low <= a.high;
}

/**
 * A rewrite-mode site never takes a passive port (data goes by the operator's NAT), so its range
 * cannot collide with another site's. Relay and kernel mode hold ports of their range.
 */
function takesPassivePorts(site: SiteConfig): boolean {
  return site.mode !== 'rewrite';
}

function conflictOf(sites: readonly SiteConfig[], later: number): SiteConflict | undefined {
  const site = sites[later];
  if (site === undefined) return undefined;
  for (let earlier = 0; earlier < later; earlier++) {
    const other = sites[earlier];
    if (other?.name === site.name) {
      return {
        path: ['sites', later, 'name'],
        expected: 'a name no other site has',
        received: site.name,
        detail: `site name ${JSON.stringify(site.name)} is already the name of sites[${earlier}]; names must be unique`,
      };
    }
  }
  for (let earlier = 0; earlier < later; earlier++) {
    const other = sites[earlier];
    if (other === undefined) continue;
    for (const [index, endpoint] of site.listen.entries()) {
      const otherIndex = other.listen.findIndex((candidate) => listenersOverlap(endpoint, candidate));
      const otherEndpoint = other.listen[otherIndex];
      if (otherEndpoint === undefined) continue;
      return {
        path: ['sites', later, 'listen', index],
        expected: 'a listener no other site overlaps',
        received: formatEndpoint(endpoint),
        detail:
          `site ${JSON.stringify(site.name)} listens on ${formatEndpoint(endpoint)}, which overlaps ` +
          `${formatEndpoint(otherEndpoint)} of site ${JSON.stringify(other.name)} (sites[${earlier}].listen[${otherIndex}])`,
      };
    }
  }
  if (!takesPassivePorts(site)) return undefined;
  for (let earlier = 0; earlier < later; earlier++) {
    const other = sites[earlier];
    if (other === undefined || !takesPassivePorts(other) || !portRangesOverlap(site.passivePorts, other.passivePorts)) continue;
    return {
      path: ['sites', later, 'passivePorts'],
      expected: 'a passive range no other site overlaps',
      received: formatPortRange(site.passivePorts),
      detail:
        `site ${JSON.stringify(site.name)} has passive ports ${formatPortRange(site.passivePorts)}, which overlap ` +
        `${formatPortRange(other.passivePorts)} of site ${JSON.stringify(other.name)} (sites[${earlier}].passivePorts)`,
    };
  }
  return undefined;
}

/** The first conflict, in the order of the sites; undefined when the sites can run side by side. */
export function findSiteConflict(sites: readonly SiteConfig[]): SiteConflict | undefined {
  for (let later = 1; later < sites.length; later++) {
    const conflict = conflictOf(sites, later);
    if (conflict !== undefined) return conflict;
  }
  return undefined;
}
