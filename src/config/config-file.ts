/**
 * The YAML config file: the same options as the flags, under their camelCase names
 * (`publicAddress`, `passivePorts` ...). Flags given on the command line win over the file.
 * Unknown keys and wrong types are errors that name the key, never silently ignored.
 */
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
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
  for (const [key, value] of Object.entries(document)) {
    const spec = OPTION_SPECS.find((candidate) => candidate.key === key);
    const field = `${source}: ${key}`;
    if (spec === undefined) {
      throw new ConfigError(field, `one of the keys ${OPTION_SPECS.map((s) => s.key).join(', ')}`, key);
    }
    if (spec.repeatable === true && Array.isArray(value)) {
      raw.listen = value.map((item, index) => scalarText(`${field}[${index}]`, item, spec.valueName));
      continue;
    }
    const text = scalarText(field, value, spec.valueName);
    if (spec.key === 'listen') raw.listen = [text];
    else raw[spec.key] = text;
  }
  return raw;
}

export function loadConfigFile(path: string): RawOptions {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('--config', 'a readable YAML file', `${path} (${error instanceof Error ? error.message : String(error)})`);
  }
  const document = parseDocument(text, { prettyErrors: false });
  const [firstError] = document.errors;
  if (firstError !== undefined) {
    throw new ConfigError(path, 'valid YAML', firstError.message.split('\n')[0] ?? 'parse error');
  }
  return rawOptionsFromDocument(path, document.toJS());
}

/** Command-line values win over the file's. */
export function mergeRawOptions(file: RawOptions, flags: RawOptions): RawOptions {
  const merged: RawOptions = { ...file };
  for (const spec of OPTION_SPECS) {
    const value = flags[spec.key];
    if (value === undefined) continue;
    if (spec.key === 'listen') merged.listen = value;
    else if (typeof value === 'string') merged[spec.key] = value;
  }
  return merged;
}
