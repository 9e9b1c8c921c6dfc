/**
 * The building blocks of the config document's zod schema: a key read from a flag's text or a
 * YAML scalar, parsed by the pure parsers of values.ts, with its default and its JSON Schema
 * description taken from the option's spec. Feature key groups (site-fields-*.ts) build on these
 * so that document-schema.ts only assembles them.
 */
import { z } from 'zod';
import { type OptionSpec, type RawOptions, specOf, valueFormOf } from './option-specs.js';
import { CIDR_FORM, type Cidr, parseCidr } from '../protocol/cidr.js';
import { ConfigError, type Endpoint, parseChoice, parseEndpoint } from './values.js';

/**
 * What a custom issue from this schema carries, so the ConfigError built from it keeps the
 * expected form and the value received; `detail` replaces the `expected ..., got ...` wording.
 */
export interface ValueIssueParams {
  readonly expected: string;
  readonly received: string;
  readonly detail?: string;
}

/** YAML hands over numbers where a flag takes text (`maxSessions: 500`, `passiveTimeout: 30`). */
export const scalar = z.union([z.string(), z.number()]);

/** The JSON Schema's description of a key: what it does, its form, and the flag that sets it. */
export function describeOption(spec: OptionSpec, description = spec.description): string {
  return `${description}; ${valueFormOf(spec)}. Flag: ${spec.flag}.`;
}

export function valueIssue(error: ConfigError): ValueIssueParams {
  return { expected: error.expected, received: error.received };
}

/** A scalar parsed by one of the values.ts parsers; its ConfigError becomes an issue at this path. */
export function parsedScalar<T>(parse: (text: string) => T) {
  return scalar.transform((value, context): T => {
    try {
      return parse(String(value));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      context.addIssue({ code: 'custom', message: error.message, params: valueIssue(error), input: value });
      return z.NEVER;
    }
  });
}

export function defaultOf(spec: OptionSpec): string {
  if (spec.defaultValue === undefined) throw new Error(`option ${spec.key} has no default`);
  return spec.defaultValue;
}

export function optionWithDefault<T>(key: keyof RawOptions, parse: (field: string, text: string) => T) {
  const spec = specOf(key);
  return parsedScalar((text) => parse(key, text))
    .prefault(defaultOf(spec))
    .meta({ description: describeOption(spec) });
}

export function optionalOption<T>(key: keyof RawOptions, parse: (field: string, text: string) => T) {
  const spec = specOf(key);
  return parsedScalar((text) => parse(key, text))
    .optional()
    .meta({ description: describeOption(spec) });
}

export function requiredOption<T>(key: keyof RawOptions, parse: (field: string, text: string) => T) {
  const spec = specOf(key);
  return parsedScalar((text) => parse(key, text)).meta({ description: describeOption(spec) });
}

export function choiceOption<const T extends readonly [string, ...string[]]>(key: keyof RawOptions, choices: T) {
  const spec = specOf(key);
  return z
    .enum(choices)
    .default(parseChoice(key, defaultOf(spec), choices))
    .meta({ description: describeOption(spec) });
}

export function parseListenEndpoint(field: string, text: string): Endpoint {
  return parseEndpoint(field, text, { allowHostname: false, allowPortZero: true });
}

export function parseUpstream(field: string, text: string): Endpoint {
  return parseEndpoint(field, text, { allowHostname: true, allowPortZero: false });
}

/** YAML gives a boolean, a flag gives text. */
export function booleanOption(key: keyof RawOptions) {
  const spec = specOf(key);
  return z
    .union([z.boolean(), z.enum(['true', 'false'])])
    .transform((value) => value === true || value === 'true')
    .prefault(defaultOf(spec) === 'true' ? 'true' : 'false')
    .meta({ description: describeOption(spec) });
}

/**
 * One CIDR block or a list of them. Each bad item is an issue at
 * its own index (`sites[0].denyClients[2]`).
 */
export function cidrList() {
  return z.union([scalar, z.array(scalar)]).transform((value, context): Cidr[] => {
    const items = Array.isArray(value) ? value : [value];
    const cidrs: Cidr[] = [];
    items.forEach((item, index) => {
      const text = String(item);
      const parsed = parseCidr(text.trim());
      if (parsed.ok) {
        cidrs.push(parsed.value);
        return;
      }
      const detail = `expected ${CIDR_FORM}, got ${JSON.stringify(text)}: ${parsed.reason}`;
      const params: ValueIssueParams = { expected: CIDR_FORM, received: text, detail };
      context.addIssue({ code: 'custom', message: detail, params, path: Array.isArray(value) ? [index] : [], input: item });
    });
    return cidrs;
  });
}

export function parseFilePath(field: string, text: string): string {
  if (text.trim() === '') throw new ConfigError(field, 'a file path', '""');
  return text;
}

