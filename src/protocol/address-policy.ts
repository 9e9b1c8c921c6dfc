/**
 * ftpmasq's security and routing decisions about addresses, in one place (docs/SECURITY.md
 * lists each rule). Pure: strings in, decisions out.
 */
import ipaddr from 'ipaddr.js';

/** ipaddr.js ranges under which an address cannot be reached from the internet. */
const UNROUTABLE_V4 = new Set([
  'unspecified',
  'broadcast',
  'multicast',
  'linkLocal',
  'loopback',
  'carrierGradeNat',
  'private',
  'reserved',
  'as112',
  'amt',
]);
const UNROUTABLE_V6 = new Set([
  'unspecified',
  'linkLocal',
  'multicast',
  'loopback',
  'uniqueLocal',
  'reserved',
  'benchmarking',
  'discard',
  'orchid2',
  'droneRemoteIdProtocolEntityTags',
]);

/** What the checks below need to know of one address string, parsed once. */
interface AddressFacts {
  /** The form we compare and log; the input unchanged when it is not an IP address. */
  readonly normalized: string;
  readonly family: 4 | 6 | undefined;
  readonly unroutable: boolean;
}

/**
 * Parsed addresses by their text. A session asks about the same few addresses (its client's,
 * the server's, the public one) several times per data connection, and ipaddr.js parsing was
 * 3 % of a short session's CPU (docs/PERFORMANCE.md). Bounded: emptied when full, so a flood of
 * distinct client addresses costs a re-parse, never memory.
 */
const factsCache = new Map<string, AddressFacts>();
export const ADDRESS_CACHE_LIMIT = 1024;

function addressFacts(address: string): AddressFacts {
  const cached = factsCache.get(address);
  if (cached !== undefined) return cached;
  const facts = parseFacts(address);
  if (factsCache.size >= ADDRESS_CACHE_LIMIT) factsCache.clear();
  factsCache.set(address, facts);
  return facts;
}

function parseFacts(address: string): AddressFacts {
  if (!ipaddr.isValid(address)) return { normalized: address, family: undefined, unroutable: true };
  const parsed = ipaddr.process(address);
  const range = parsed.range();
  return parsed.kind() === 'ipv4'
    ? { normalized: parsed.toString(), family: 4, unroutable: UNROUTABLE_V4.has(range) }
    : { normalized: parsed.toString(), family: 6, unroutable: UNROUTABLE_V6.has(range) };
}

/** How many parsed addresses are kept now (tests: the bound holds). */
export function addressCacheSize(): number {
  return factsCache.size;
}

/** The address in the form we compare and log: IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4. */
export function normalizeAddress(address: string): string {
  return addressFacts(address).normalized;
}

export function isValidIp(address: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(address) || ipaddr.IPv6.isValid(address);
}

export function ipFamily(address: string): 4 | 6 | undefined {
  return addressFacts(address).family;
}

/** True when a client on the internet cannot reach the address (RFC 1918, loopback, CGNAT, ...). */
export function isUnroutable(address: string): boolean {
  return addressFacts(address).unroutable;
}

export function isSameHost(a: string, b: string): boolean {
  return normalizeAddress(a) === normalizeAddress(b);
}

export type PasvRewriteDecision =
  | { rewrite: true; reason: 'unroutable' }
  | { rewrite: false; reason: 'already-public' | 'routable' };

/**
 * Rewrite mode: a 227 address is replaced by the public address when the client could not
 * reach it, and left alone when the server already advertises a routable address (a server
 * that is configured right keeps working unchanged).
 */
export function decidePasvRewrite(advertised: string, publicAddress: string): PasvRewriteDecision {
  if (isSameHost(advertised, publicAddress)) return { rewrite: false, reason: 'already-public' };
  if (isUnroutable(advertised)) return { rewrite: true, reason: 'unroutable' };
  return { rewrite: false, reason: 'routable' };
}

export type ActiveTargetDecision =
  | { ok: true }
  | { ok: false; reason: 'foreign-host' | 'privileged-port'; reply: string };

export const MIN_ACTIVE_PORT = 1024;

/**
 * PORT/EPRT: ftpmasq connects only to the control client's own address, and never to a port
 * below 1024 (RFC 2577 section 3, the FTP bounce attack).
 */
export function checkActiveTarget(
  requestedHost: string,
  requestedPort: number,
  controlClientAddress: string,
): ActiveTargetDecision {
  if (!isSameHost(requestedHost, controlClientAddress)) {
    return { ok: false, reason: 'foreign-host', reply: '500 Illegal PORT command: address must be your own.' };
  }
  if (requestedPort < MIN_ACTIVE_PORT) {
    return { ok: false, reason: 'privileged-port', reply: '504 Illegal PORT command: port below 1024.' };
  }
  return { ok: true };
}

/**
 * A data port ftpmasq may dial on the upstream: never one below 1024. A 227/229 naming port 22
 * or 23 would otherwise turn ftpmasq into a relay to the server host's own services (the
 * bounce attack from the upstream side; OpenBSD ftp-proxy refuses these too).
 */
export function isDialableUpstreamDataPort(port: number): boolean {
  return Number.isInteger(port) && port >= MIN_ACTIVE_PORT && port <= 65535;
}

/** A passive data connection is accepted only from the control client's address. */
export function isAllowedDataPeer(peerAddress: string | undefined, controlClientAddress: string): boolean {
  return peerAddress !== undefined && isSameHost(peerAddress, controlClientAddress);
}
