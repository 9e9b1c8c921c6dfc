/**
 * The scale-out keys of a site (docs/SCALING.md) and how they turn into its SiteConfig fields:
 * the slice narrows `passivePorts` to the ports this replica owns, and the offset is checked
 * against that range.
 */
import { hostname } from 'node:os';
import type { z } from 'zod';
import { booleanOption, optionWithDefault, optionalOption } from './schema-builders.js';
import type { IssueSink } from './site-tls-options.js';
import type { SiteConfig } from './types.js';
import { ConfigError, type PortRange } from './values.js';
import { SLICE_FORM, type SliceSetting, checkAdvertisedRange, parseSliceSetting, resolveSlice, sliceOfRange } from '../site/port-slices.js';

function parsePassivePortSlice(field: string, text: string): SliceSetting {
  const parsed = parseSliceSetting(text);
  if (!parsed.ok) {
    const detail = parsed.reason.startsWith('expected') ? undefined : `expected ${SLICE_FORM}, got ${JSON.stringify(text)}: ${parsed.reason}`;
    throw new ConfigError(field, SLICE_FORM, text, detail);
  }
  return parsed.value;
}

export const OFFSET_FORM = 'a whole number from -64511 to 64511';

function parsePortOffset(field: string, text: string): number {
  const value = /^\s*[-+]?\d{1,5}\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!(Math.abs(value) <= 64_511)) throw new ConfigError(field, OFFSET_FORM, text);
  return value;
}

export const scaleSiteFields = {
  passivePortSlice: optionalOption('passivePortSlice', parsePassivePortSlice),
  passivePortSharing: booleanOption('passivePortSharing'),
  advertisedPassivePortOffset: optionWithDefault('advertisedPassivePortOffset', parsePortOffset),
};

export type ScaleFieldValues = z.output<z.ZodObject<typeof scaleSiteFields>> & { readonly passivePorts: PortRange };

/**
 * The site's passive range (its slice where one is set), sharing and offset. `host`: the host
 * name `auto` reads its ordinal from (os.hostname(): a StatefulSet pod's is its pod name).
 */
export function toScaleFields(
  values: ScaleFieldValues,
  context: IssueSink,
  host: string = hostname(),
): Pick<SiteConfig, 'passivePorts' | 'passivePortSlice' | 'passivePortSharing' | 'advertisedPassivePortOffset'> {
  const issue = (path: string, expected: string, received: string, message: string): void => {
    context.addIssue({ code: 'custom', message, path: [path], params: { expected, received, detail: message }, input: received });
  };
  let passivePorts = values.passivePorts;
  let passivePortSlice: SiteConfig['passivePortSlice'];
  const setting = values.passivePortSlice;
  if (setting !== undefined) {
    const received = `${setting.index}/${setting.count}`;
    const resolved = resolveSlice(setting, host);
    const slice = resolved.ok ? sliceOfRange(values.passivePorts, resolved.value) : resolved;
    if (!slice.ok) issue('passivePortSlice', SLICE_FORM, received, slice.reason);
    else if (resolved.ok) {
      passivePorts = slice.value;
      passivePortSlice = { ...resolved.value, range: values.passivePorts };
    }
  }
  const advertised = checkAdvertisedRange(passivePorts, values.advertisedPassivePortOffset);
  if (!advertised.ok) issue('advertisedPassivePortOffset', 'an offset that keeps every advertised port in 1024-65535', String(values.advertisedPassivePortOffset), advertised.reason);
  return {
    passivePorts,
    passivePortSlice,
    passivePortSharing: values.passivePortSharing,
    advertisedPassivePortOffset: values.advertisedPassivePortOffset,
  };
}
