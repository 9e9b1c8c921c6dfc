/**
 * A flat (one-site) config document as the flags' raw strings, for callers that feed
 * `buildConfig`. The daemon loads files through load-config.ts (`loadConfig`), which also reads
 * the `sites:` form; this reader knows only the flat keys.
 */
import { isListOption, setListOption } from './option-specs.js';
import { OPTION_SPECS, type RawOptions } from './schema.js';
import { ConfigError } from './values.js';

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : String(value);
}

function scalarText(field: string, value: unknown, expected: string): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new ConfigError(field, expected, describeValue(value));
}

/** Validates a parsed document into raw option strings; `source` names the file in errors. */
export function rawOptionsFromDocument(source: string, document: unknown): RawOptions {
  if (document === null || document === undefined) return {};
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(source, 'a mapping of option names to values', describeValue(document));
  }
  const raw: RawOptions = {};
  for (const [name, value] of Object.entries(document)) {
    const spec = OPTION_SPECS.find((candidate) => candidate.key === name);
    const field = `${source}: ${name}`;
    if (spec === undefined) {
      throw new ConfigError(field, `one of the keys ${OPTION_SPECS.map((s) => s.key).join(', ')}`, name);
    }
    const key = spec.key;
    if (isListOption(key)) {
      const items: readonly unknown[] = Array.isArray(value) ? value : [value];
      const label = (index: number): string => (Array.isArray(value) ? `${field}[${index}]` : field);
      setListOption(raw, key, items.map((item, index) => scalarText(label(index), item, spec.valueName)));
      continue;
    }
    raw[key] = scalarText(field, value, spec.valueName);
  }
  return raw;
}
