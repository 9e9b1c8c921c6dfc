/**
 * The loader the daemon calls at start and again on SIGHUP: flags and an optional YAML file ->
 * one validated DaemonConfig, its hash and where it came from.
 *
 * Precedence:
 * - no file: the flags are the one site (named `default`) and the process keys;
 * - a file without `sites:` (one site, its keys at the top): every flag wins over the file's key;
 * - a file with `sites:`: process flags (`--log-level`, `--metrics-listen`, `--drain-timeout`) win
 *   over the file's; a per-site flag is an error, since it could not say which site it means.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { configErrorFromIssues, describeValue, formatKeyPath, type KeyPath } from './config-issues.js';
import { flatDocumentSchema, sitesDocumentSchema } from './document-schema.js';
import { OPTION_SPECS, type RawOptions } from './option-specs.js';
import { buildConfig, flagLabel } from './schema.js';
import type { DaemonConfig } from './types.js';
import { ConfigError } from './values.js';

export interface LoadedConfig {
  readonly config: DaemonConfig;
  /** First 12 hex digits of the sha256 of the effective config: equal configs, equal hashes. */
  readonly hash: string;
  /** The config file's path, or `command line` when there is none. */
  readonly source: string;
}

export interface LoadConfigOptions {
  readonly configPath?: string | undefined;
  readonly flags: RawOptions;
}

export const COMMAND_LINE_SOURCE = 'command line';

/** The file's text, or a ConfigError naming the file and why it cannot be read. */
function readConfigText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    // "ENOENT: no such file or directory, open '/x'" -> "no such file or directory (ENOENT)"
    const match = /^([A-Z]+): ([^,]+)/.exec(reason);
    const shown = match === null ? reason : `${match[2]} (${match[1]})`;
    throw new ConfigError(path, 'a readable YAML file', shown, `cannot read the config file: ${shown}`);
  }
}

/** Parses YAML text into plain values; syntax errors name `source:line:column`. */
export function parseConfigText(text: string, source: string): unknown {
  const document = parseDocument(text);
  const [syntaxError] = document.errors;
  if (syntaxError !== undefined) {
    const [firstLine = syntaxError.code] = syntaxError.message.split('\n');
    const reason = firstLine.replace(/ at line \d+, column \d+:?$/, '');
    const position = syntaxError.linePos?.[0];
    const where = position === undefined ? source : `${source}:${position.line}:${position.col}`;
    throw new ConfigError(where, 'valid YAML', reason, `invalid YAML: ${reason}`);
  }
  try {
    return document.toJS();
  } catch (error) {
    // An alias to a missing anchor, or more aliases than yaml's limit against resource exhaustion.
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError(source, 'valid YAML', reason, `invalid YAML: ${reason}`);
  }
}

function isMapping(value: unknown): value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

function givenFlags(flags: RawOptions): Map<string, string | readonly string[]> {
  const given = new Map<string, string | readonly string[]>();
  for (const spec of OPTION_SPECS) {
    const value = flags[spec.key];
    if (value !== undefined) given.set(spec.key, value);
  }
  return given;
}

/**
 * Validates a parsed document (with the flags on top, as the precedence above says) into a
 * DaemonConfig. `source` names the file in errors; a value that came from a flag is named by
 * its flag.
 */
export function configFromDocument(document: unknown, options: { source: string; flags?: RawOptions }): DaemonConfig {
  const { source } = options;
  const fileKeys = document === null || document === undefined ? {} : document;
  if (!isMapping(fileKeys)) {
    const expected = 'a mapping of config keys (sites:, or the keys of one site)';
    throw new ConfigError(source, expected, describeValue(fileKeys), `expected ${expected}, got ${describeValue(fileKeys)}`);
  }
  const fileDocument: Record<string, unknown> = Object.fromEntries(Object.entries(fileKeys));
  const hasSites = 'sites' in fileDocument;
  const flags = givenFlags(options.flags ?? {});
  if (hasSites) {
    for (const spec of OPTION_SPECS) {
      const value = flags.get(spec.key);
      if (spec.scope !== 'site' || value === undefined) continue;
      throw new ConfigError(
        spec.flag,
        'no per-site flag beside a file with sites:',
        [value].flat().join(' '),
        `per-site flags cannot be combined with ${source}, which has sites:; set ${spec.key} in its sites instead`,
      );
    }
  }
  const merged: Record<string, unknown> = { ...fileDocument, ...Object.fromEntries(flags) };
  const labelOf = (path: KeyPath): string => {
    const [key] = path;
    if (typeof key === 'string' && flags.has(key)) return flagLabel(path);
    return path.length === 0 ? source : `${source}: ${formatKeyPath(path)}`;
  };
  if (hasSites) {
    const result = sitesDocumentSchema.safeParse(merged, { reportInput: true });
    if (!result.success) throw configErrorFromIssues(result.error.issues, 'sites', labelOf);
    return result.data;
  }
  const result = flatDocumentSchema.safeParse(merged, { reportInput: true });
  if (!result.success) throw configErrorFromIssues(result.error.issues, 'flat', labelOf);
  return result.data;
}

/** JSON with every object's keys sorted and undefined members left out: one text per value. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const members = Object.entries(value)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function hashConfig(config: DaemonConfig): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 12);
}

/**
 * Flags and an optional config file -> the effective configuration. Throws ConfigError (one
 * line, naming the flag or the file and key path) on any problem. Reads the file anew on every
 * call, so SIGHUP can call it again with the same options.
 */
export function loadConfig(options: LoadConfigOptions): LoadedConfig {
  const { configPath, flags } = options;
  const config =
    configPath === undefined
      ? buildConfig(flags)
      : configFromDocument(parseConfigText(readConfigText(configPath), configPath), { source: configPath, flags });
  return { config, hash: hashConfig(config), source: configPath ?? COMMAND_LINE_SOURCE };
}
