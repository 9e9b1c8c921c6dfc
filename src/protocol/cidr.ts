/**
 * CIDR blocks and tables of them: parse, match an address, first match wins. Pure. An address is
 * compared in the family it really has: an IPv4-mapped IPv6 address (`::ffff:192.0.2.7`, what a
 * dual-stack socket reports for an IPv4 peer) is matched as IPv4, and a block written in the
 * mapped range (`::ffff:192.0.2.0/120`) is the IPv4 block it names (`192.0.2.0/24`).
 */
import ipaddr from 'ipaddr.js';
import type { ParseResult } from './data-addresses.js';

/** One block: the network's bytes (host bits zero) and the prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly bytes: readonly number[];
  readonly prefix: number;
}

/** An entry of a first-match table: the blocks it covers, and whatever it decides. */
export interface CidrRule {
  readonly clients: readonly Cidr[];
}

export const CIDR_FORM = 'a CIDR such as 192.0.2.0/24 or 2001:db8::/32 (a bare address is one host)';

const MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] as const;

function fail<T>(reason: string): ParseResult<T> {
  return { ok: false, reason };
}

/** An address's family and bytes, IPv4-mapped IPv6 as IPv4; undefined when it is no address. */
export function addressBytes(address: string): { readonly family: 4 | 6; readonly bytes: readonly number[] } | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(address)) return { family: 4, bytes: ipaddr.IPv4.parse(address).toByteArray() };
  if (!ipaddr.IPv6.isValid(address)) return undefined;
  const bytes = ipaddr.IPv6.parse(address).toByteArray();
  if (MAPPED_PREFIX.every((byte, index) => bytes[index] === byte)) return { family: 4, bytes: bytes.slice(12) };
  return { family: 6, bytes };
}

/** `192.0.2.0/24`, `2001:db8::/32`, or a bare address (a /32 or /128). Host bits must be zero. */
export function parseCidr(text: string): ParseResult<Cidr> {
  const slash = text.indexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);
  const isV4Text = ipaddr.IPv4.isValidFourPartDecimal(addressText);
  if (!isV4Text && !ipaddr.IPv6.isValid(addressText)) return fail('not an IP address');
  const bits = isV4Text ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return fail('the prefix length is not a number');
  const writtenPrefix = prefixText === undefined ? bits : Number(prefixText);
  if (writtenPrefix > bits) return fail(`the prefix length is above ${bits}`);
  const written = isV4Text ? ipaddr.IPv4.parse(addressText).toByteArray() : ipaddr.IPv6.parse(addressText).toByteArray();
  const inMappedRange = !isV4Text && writtenPrefix >= 96 && MAPPED_PREFIX.every((byte, index) => written[index] === byte);
  const cidr: Cidr = inMappedRange
    ? { family: 4, bytes: written.slice(12), prefix: writtenPrefix - 96 }
    : { family: isV4Text ? 4 : 6, bytes: written, prefix: writtenPrefix };
  if (!cidr.bytes.every((byte, index) => byte === maskByte(byte, index, cidr.prefix))) {
    return fail(`host bits are set; the network is ${formatCidr({ ...cidr, bytes: cidr.bytes.map((byte, index) => maskByte(byte, index, cidr.prefix)) })}`);
  }
  return { ok: true, value: cidr };
}

/** The byte at `index` with the bits past `prefix` cleared. */
function maskByte(byte: number, index: number, prefix: number): number {
  const keep = Math.min(8, Math.max(0, prefix - index * 8));
  return byte & ((0xff << (8 - keep)) & 0xff);
}

export function formatCidr(cidr: Cidr): string {
  return `${ipaddr.fromByteArray([...cidr.bytes]).toString()}/${cidr.prefix}`;
}

/** True when `address` (any textual form) lies in the block; an unparsable address is in none. */
export function cidrContains(cidr: Cidr, address: string): boolean {
  const parsed = addressBytes(address);
  if (parsed === undefined || parsed.family !== cidr.family) return false;
  return parsed.bytes.every((byte, index) => maskByte(byte, index, cidr.prefix) === cidr.bytes[index]);
}

export function matchesAny(cidrs: readonly Cidr[], address: string): boolean {
  return cidrs.some((cidr) => cidrContains(cidr, address));
}

/** The first rule with a block holding `address`, or undefined. */
export function firstMatch<R extends CidrRule>(rules: readonly R[], address: string): R | undefined {
  return rules.find((rule) => matchesAny(rule.clients, address));
}
