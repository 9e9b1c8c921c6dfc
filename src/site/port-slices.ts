/**
 * Scale-out without stickiness (docs/SCALING.md): every replica writes its own 227/229 replies,
 * so if each one owns a disjoint slice of the passive range and advertises only ports of it, a
 * data connection always reaches the replica that holds its control connection, whichever
 * replica the balancer gave the control connection to. Pure: numbers in, values out.
 */
import type { PortRange } from '../config/values.js';

/** Which slice a replica owns: `index` of `count` (a StatefulSet ordinal, a worker number). */
export interface SliceSpec {
  readonly index: number;
  readonly count: number;
}

/** `auto`: the index is the ordinal at the end of the host name (`ftpmasq-2` is 2). */
export interface SliceSetting {
  readonly index: number | 'auto';
  readonly count: number;
}

export type SliceResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/** Above this, a slice of a 64 K port space would be a handful of ports per replica. */
export const MAX_SLICE_COUNT = 1024;

export const SLICE_FORM = 'INDEX/COUNT (e.g. 2/3, index from 0) or auto/COUNT (index from the host name, ftpmasq-2)';

export function rangeSize(range: PortRange): number {
  return range.high - range.low + 1;
}

/**
 * Slice `index` of `count` of `range`: slices are contiguous, in index order, never overlap and
 * together cover the range; their sizes differ by at most one (the first `size % count` slices
 * have the extra port). Contiguous slices map to one port range per Service or balancer rule.
 */
export function sliceOfRange(range: PortRange, slice: SliceSpec): SliceResult<PortRange> {
  const { index, count } = slice;
  if (!Number.isInteger(count) || count < 1 || count > MAX_SLICE_COUNT) {
    return { ok: false, reason: `the slice count must be a whole number from 1 to ${MAX_SLICE_COUNT}, got ${count}` };
  }
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    return { ok: false, reason: `the slice index must be a whole number from 0 to ${count - 1}, got ${index}` };
  }
  const size = rangeSize(range);
  if (size < count) {
    return {
      ok: false,
      reason: `the passive range ${range.low}-${range.high} has ${size} port${size === 1 ? '' : 's'}, too few for ${count} slices (at least one port each)`,
    };
  }
  const base = Math.floor(size / count);
  const extra = size % count;
  const low = range.low + index * base + Math.min(index, extra);
  const length = base + (index < extra ? 1 : 0);
  return { ok: true, value: { low, high: low + length - 1 } };
}

/** Every slice of the range, in index order (for manifests, docs and tests). */
export function slicesOfRange(range: PortRange, count: number): SliceResult<PortRange[]> {
  const slices: PortRange[] = [];
  for (let index = 0; index < count; index++) {
    const slice = sliceOfRange(range, { index, count });
    if (!slice.ok) return slice;
    slices.push(slice.value);
  }
  return { ok: true, value: slices };
}

/** `2/3`, `auto/3`. */
export function parseSliceSetting(text: string): SliceResult<SliceSetting> {
  const match = /^\s*(auto|\d{1,4})\s*\/\s*(\d{1,4})\s*$/i.exec(text);
  if (match === null) return { ok: false, reason: `expected ${SLICE_FORM}` };
  const count = Number(match[2]);
  const indexText = (match[1] ?? '').toLowerCase();
  const index = indexText === 'auto' ? 'auto' : Number(indexText);
  if (count < 1 || count > MAX_SLICE_COUNT) return { ok: false, reason: `the slice count must be from 1 to ${MAX_SLICE_COUNT}` };
  if (index !== 'auto' && index >= count) return { ok: false, reason: `the slice index must be below the count (${count}), from 0` };
  return { ok: true, value: { index, count } };
}

/**
 * The ordinal of a StatefulSet pod from its host name: Kubernetes names pods `<set>-<ordinal>`
 * and sets the host name to the pod name. A name without a trailing `-<digits>` has none.
 */
export function ordinalOfHostname(hostname: string): SliceResult<number> {
  const match = /-(\d{1,4})$/.exec(hostname.trim());
  if (match === null) return { ok: false, reason: `the host name ${JSON.stringify(hostname)} does not end in -<ordinal> (a StatefulSet pod's does: ftpmasq-2)` };
  return { ok: true, value: Number(match[1]) };
}

/** The slice a setting names on this host: `auto` takes the ordinal from `hostname`. */
export function resolveSlice(setting: SliceSetting, hostname: string): SliceResult<SliceSpec> {
  if (setting.index !== 'auto') return { ok: true, value: { index: setting.index, count: setting.count } };
  const ordinal = ordinalOfHostname(hostname);
  if (!ordinal.ok) return ordinal;
  if (ordinal.value >= setting.count) {
    return { ok: false, reason: `the host name ${JSON.stringify(hostname)} gives ordinal ${ordinal.value}, not below the slice count ${setting.count}` };
  }
  return { ok: true, value: { index: ordinal.value, count: setting.count } };
}

/**
 * The port a 227/229 names for a bound passive port: the same port, or shifted by the site's
 * offset where a NodePort or a balancer maps public port P+offset to the replica's port P.
 */
export function advertisedPassivePort(site: { readonly advertisedPassivePortOffset?: number | undefined }, boundPort: number): number {
  return boundPort + (site.advertisedPassivePortOffset ?? 0);
}

/** The advertised ports of a range must be ports a client may be told (RFC 959 allows any; ftpmasq, 1024-65535). */
export function checkAdvertisedRange(range: PortRange, offset: number): SliceResult<PortRange> {
  const advertised = { low: range.low + offset, high: range.high + offset };
  if (!Number.isInteger(offset) || advertised.low < 1024 || advertised.high > 65_535) {
    return {
      ok: false,
      reason: `the passive range ${range.low}-${range.high} shifted by ${offset} is ${advertised.low}-${advertised.high}, outside 1024-65535`,
    };
  }
  return { ok: true, value: advertised };
}
