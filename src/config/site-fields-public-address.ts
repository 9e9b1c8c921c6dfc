/**
 * `publicAddress` as an IP address or a DNS name, and `publicAddressRefresh`: how often a name is
 * resolved again (src/daemon/public-address.ts). A name is checked for its form here; whether it
 * resolves is a run-time matter (a dynamic address may not resolve at every moment).
 */
import { optionWithDefault, optionalOption } from './schema-builders.js';
import { isValidIp } from '../protocol/address-policy.js';
import { ConfigError, isHostName, parseDuration } from './values.js';

/** Below this, a lookup per second per site would be the resolver's load, not a refresh. */
export const MIN_PUBLIC_ADDRESS_REFRESH_MS = 1000;

export function parsePublicAddress(field: string, text: string): string {
  if (isValidIp(text) || isHostName(text)) return text;
  throw new ConfigError(field, 'an IPv4 or IPv6 address, or a DNS name', text);
}

function parseRefresh(field: string, text: string): number {
  const ms = parseDuration(field, text);
  if (ms < MIN_PUBLIC_ADDRESS_REFRESH_MS) throw new ConfigError(field, 'a duration of at least 1s', text);
  return ms;
}

export const PUBLIC_ADDRESS_SITE_FIELDS = {
  publicAddress: optionalOption('publicAddress', parsePublicAddress),
  publicAddressRefresh: optionWithDefault('publicAddressRefresh', parseRefresh),
};
