/**
 * What a reload changes, decided before anything is touched (the prepare step of OpenBSD
 * ftp-proxy's prepare/commit/rollback): which sites are added, removed, changed or unchanged, and
 * which listening sockets must be bound first and which closed at commit. Pure: configurations in,
 * a plan out. The daemon binds `bind`, and only when every bind succeeded applies the rest.
 */
import { isDeepStrictEqual } from 'node:util';
import type { SiteConfig } from '../config/types.js';
import type { Endpoint } from '../config/values.js';

/** One control listener of a configuration. */
export interface ListenerSpec {
  /**
   * Names the listening socket across reloads: a listener whose key is in both configurations
   * keeps its socket (no connection is refused during the reload), even when it moves to another
   * site. A fixed port is keyed by address; port 0 (a fresh port from the kernel) by site too.
   */
  readonly key: string;
  readonly endpoint: Endpoint;
  /** `[::]` beside an IPv4 listener on the same port must not take IPv4 too. */
  readonly ipv6Only: boolean;
  readonly site: string;
  /** An implicit FTPS listener (`tlsListen`): its connections are TLS from the first byte. */
  readonly implicitTls?: boolean;
}

export interface SiteChange {
  readonly name: string;
  /** The keys whose values differ, e.g. `passivePorts`, `listen`. */
  readonly keys: readonly (keyof SiteConfig)[];
}

export interface ReloadPlan {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly SiteChange[];
  readonly unchanged: readonly string[];
  /** Every listener of the new configuration, in site and `listen` order. */
  readonly listeners: readonly ListenerSpec[];
  /** Listeners of the new configuration that are not bound now: bound before anything is committed. */
  readonly bind: readonly ListenerSpec[];
  /** Keys of listeners bound now that the new configuration does not have: closed at commit. */
  readonly close: readonly string[];
}

export type PlanResult = { readonly ok: true; readonly plan: ReloadPlan } | { readonly ok: false; readonly reason: string };

export function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.host.includes(':') ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

/** The listeners of a configuration, or why it cannot have them (one address listed twice). */
export function listenerSpecs(sites: readonly SiteConfig[]): { ok: true; specs: ListenerSpec[] } | { ok: false; reason: string } {
  const endpointsOf = (site: SiteConfig): { endpoint: Endpoint; implicitTls: boolean }[] => [
    ...site.listen.map((endpoint) => ({ endpoint, implicitTls: false })),
    ...(site.tls?.implicitListen ?? []).map((endpoint) => ({ endpoint, implicitTls: true })),
  ];
  const ipv4Ports = new Set(
    sites.flatMap((site) =>
      endpointsOf(site)
        .filter(({ endpoint }) => !endpoint.host.includes(':'))
        .map(({ endpoint }) => endpoint.port),
    ),
  );
  const specs: ListenerSpec[] = [];
  const owners = new Map<string, string>();
  for (const site of sites) {
    for (const { endpoint, implicitTls } of endpointsOf(site)) {
      const ipv6Only = endpoint.host.includes(':') && ipv4Ports.has(endpoint.port);
      const address = `${endpoint.host.toLowerCase()}|${endpoint.port}|${ipv6Only ? 'v6only' : 'any'}`;
      // Port 0 is a fresh port per listener: keyed by site and kind, so a plain and a TLS one differ.
      const key = endpoint.port === 0 ? `${site.name}|${implicitTls ? 'tls|' : ''}${address}` : address;
      const owner = owners.get(key);
      if (owner !== undefined) {
        const where = owner === site.name ? `twice by site ${site.name}` : `by sites ${owner} and ${site.name}`;
        return { ok: false, reason: `listen address ${formatEndpoint(endpoint)} is used ${where}` };
      }
      owners.set(key, site.name);
      specs.push({ key, endpoint, ipv6Only, site: site.name, ...(implicitTls ? { implicitTls } : {}) });
    }
  }
  return { ok: true, specs };
}

function isSiteKey(key: string, site: SiteConfig): key is keyof SiteConfig {
  return key in site;
}

function changedKeys(current: SiteConfig, next: SiteConfig): (keyof SiteConfig)[] {
  return Object.keys(next).filter(
    (key): key is keyof SiteConfig => isSiteKey(key, next) && !isDeepStrictEqual(current[key], next[key]),
  );
}

/** The plan that takes the sites of `current` to those of `next`; `current` may be empty (start). */
export function planReload(current: readonly SiteConfig[], next: readonly SiteConfig[]): PlanResult {
  const names = new Set<string>();
  for (const site of next) {
    if (names.has(site.name)) return { ok: false, reason: `site name ${site.name} is used twice` };
    names.add(site.name);
  }
  const nextListeners = listenerSpecs(next);
  if (!nextListeners.ok) return nextListeners;
  const currentListeners = listenerSpecs(current);
  const boundKeys = new Set(currentListeners.ok ? currentListeners.specs.map((spec) => spec.key) : []);
  const nextKeys = new Set(nextListeners.specs.map((spec) => spec.key));

  const currentByName = new Map(current.map((site) => [site.name, site]));
  const added: string[] = [];
  const changed: SiteChange[] = [];
  const unchanged: string[] = [];
  for (const site of next) {
    const before = currentByName.get(site.name);
    if (before === undefined) {
      added.push(site.name);
      continue;
    }
    const keys = changedKeys(before, site);
    if (keys.length === 0) unchanged.push(site.name);
    else changed.push({ name: site.name, keys });
  }
  return {
    ok: true,
    plan: {
      added,
      removed: current.filter((site) => !names.has(site.name)).map((site) => site.name),
      changed,
      unchanged,
      listeners: nextListeners.specs,
      bind: nextListeners.specs.filter((spec) => !boundKeys.has(spec.key)),
      close: [...boundKeys].filter((key) => !nextKeys.has(key)),
    },
  };
}
