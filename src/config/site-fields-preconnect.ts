/**
 * `upstreamPreconnect` and `upstreamPreconnectMaxAge` (src/daemon/upstream-spares.ts). A
 * preconnected connection is dialled before its client exists, so it cannot carry what names the
 * client or depends on the login: a PROXY header, or a route chosen by USER.
 */
import { optionWithDefault } from './schema-builders.js';
import type { IssueSink } from './site-tls-options.js';
import type { SiteConfig } from './types.js';
import { ConfigError, parseDuration } from './values.js';

/** More would be a pool of idle server sessions, not a head start for the next clients. */
export const MAX_UPSTREAM_PRECONNECT = 64;

export function parsePreconnectCount(field: string, text: string): number {
  const trimmed = text.trim();
  if (!/^\d{1,3}$/.test(trimmed) || Number(trimmed) > MAX_UPSTREAM_PRECONNECT) {
    throw new ConfigError(field, `a whole number from 0 to ${MAX_UPSTREAM_PRECONNECT}`, text);
  }
  return Number(trimmed);
}

export const PRECONNECT_SITE_FIELDS = {
  upstreamPreconnect: optionWithDefault('upstreamPreconnect', parsePreconnectCount),
  upstreamPreconnectMaxAge: optionWithDefault('upstreamPreconnectMaxAge', parseDuration),
};

/** Absent with none, so a configuration without preconnection hashes as it always did. */
export type SitePreconnect = Pick<SiteConfig, 'upstreamPreconnect' | 'upstreamPreconnectMaxAgeMs'>;

interface PreconnectValues {
  readonly upstreamPreconnect: number;
  readonly upstreamPreconnectMaxAge: number;
}

/** What a preconnected connection cannot do, by the key that asks for it. */
export function preconnectConflict(site: Pick<SiteConfig, 'routes' | 'upstreamProxyProtocol'>): string | undefined {
  if (site.routes.length > 0) return 'routes (the server is chosen by the USER line, after the client connects)';
  if (site.upstreamProxyProtocol !== 'off') return 'upstreamProxyProtocol (the header names the client, which does not exist yet)';
  return undefined;
}

export function toSitePreconnect(
  values: PreconnectValues,
  site: Pick<SiteConfig, 'routes' | 'upstreamProxyProtocol'>,
  context: IssueSink,
): SitePreconnect {
  const conflict = values.upstreamPreconnect > 0 ? preconnectConflict(site) : undefined;
  if (conflict !== undefined) {
    const detail = `upstreamPreconnect cannot be combined with ${conflict}`;
    const received = String(values.upstreamPreconnect);
    context.addIssue({ code: 'custom', message: detail, path: ['upstreamPreconnect'], params: { expected: '0 on this site', received, detail }, input: received });
  }
  if (values.upstreamPreconnect === 0) return {};
  return { upstreamPreconnect: values.upstreamPreconnect, upstreamPreconnectMaxAgeMs: values.upstreamPreconnectMaxAge };
}
