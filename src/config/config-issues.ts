/**
 * Turns zod's issues into the one-line ConfigError ftpmasq prints: the key path (or the flag),
 * the expected form and the value received; an unknown key gets the nearest valid key or the
 * list of keys valid where it stands. Pure.
 */
import type { z } from 'zod';
import { CIDR_FORM } from '../protocol/cidr.js';
import { ADVERTISE_FORM, ADVERTISE_RULE_KEYS, PROCESS_KEYS, SITE_KEYS, SITE_NAME_FORM, SITE_OPTION_KEYS } from './document-schema.js';
import { DEFAULT_SITE_NAME, findSpec, valueFormOf } from './option-specs.js';
import { ConfigError } from './values.js';
import { ROUTE_KEYS, ROUTES_FORM, USER_PATTERN_FORM } from './site-fields-routes.js';

export type KeyPath = readonly PropertyKey[];
type Issue = z.core.$ZodIssue;

/** Which form of document the issues are about: with `sites:`, or one site's keys at the top. */
export type DocumentShape = 'sites' | 'flat';

/** Names a key path in errors: a flag (`--listen`) or a file and path (`f.yaml: sites[0].listen[1]`). */
export type LabelOf = (path: KeyPath) => string;

/** `sites[1].listen[0]`; the empty path is the document itself. */
export function formatKeyPath(path: KeyPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? String(segment) : `.${String(segment)}`;
  }
  return text;
}

/** How a value appears after `got`: text quoted, other YAML values by what they are. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

function formOfKey(key: PropertyKey | undefined): string {
  if (key === 'sites') return 'a list of sites';
  if (key === 'name') return SITE_NAME_FORM;
  if (key === 'listen') return 'IP:PORT or a list of them';
  if (key === 'advertise') return ADVERTISE_FORM;
  if (key === 'routes') return ROUTES_FORM;
  if (key === 'user') return USER_PATTERN_FORM;
  if (key === 'allowClients' || key === 'denyClients' || key === 'passThroughClients' || key === 'clients') return `${CIDR_FORM}, or a list of them`;
  if (key === 'address') return 'an IPv4 address';
  const spec = findSpec(key ?? '');
  return spec === undefined ? 'a value' : valueFormOf(spec);
}

/** The form the value at `path` must have, for a value of the wrong type or a missing one. */
export function formOf(path: KeyPath): string {
  if (path.length === 0) return 'a mapping of config keys';
  const last = path.at(-1);
  if (typeof last !== 'number') return formOfKey(last);
  const parent = path.at(-2);
  if (parent === 'sites') return 'a site: a mapping with name:, upstream: and the other site keys';
  if (parent === 'listen') return 'IP:PORT or [IPv6]:PORT';
  if (parent === 'advertise') return ADVERTISE_FORM;
  if (parent === 'routes') return ROUTES_FORM;
  if (parent === 'allowClients' || parent === 'denyClients' || parent === 'passThroughClients' || parent === 'clients') return CIDR_FORM;
  return formOfKey(parent);
}

/** The keys valid in the mapping at `path`, in the order the docs list them. */
export function keysAt(shape: DocumentShape, path: KeyPath): readonly string[] {
  if (path.length === 0) return shape === 'sites' ? [...PROCESS_KEYS, 'sites'] : [...SITE_OPTION_KEYS, ...PROCESS_KEYS, 'sites'];
  if (path.includes('advertise')) return ADVERTISE_RULE_KEYS;
  if (path.includes('routes')) return ROUTE_KEYS;
  return SITE_KEYS;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [];
    for (let j = 0; j <= b.length; j++) {
      if (i === 0 || j === 0) {
        row.push(i + j);
        continue;
      }
      const substitution = (rows[i - 1]?.[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      let best = Math.min((rows[i - 1]?.[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}

/** `Passive_Ports` and `passive-ports` are near `passivePorts`: case and separators do not count. */
function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_\s]/g, '');
}

/** The valid key nearest to a mistyped one, if it is near enough to be what was meant. */
export function suggestKey(key: string, candidates: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(normalizeKey(key), normalizeKey(candidate));
    if (best === undefined || distance < best.distance) best = { key: candidate, distance };
  }
  if (best === undefined) return undefined;
  const allowed = Math.max(1, Math.min(3, Math.floor(best.key.length / 4)));
  return best.distance <= allowed ? best.key : undefined;
}

/** A key valid elsewhere in the document than where it stands. */
function misplacedKeyDetail(shape: DocumentShape, path: KeyPath, key: string): string | undefined {
  if (path.length === 0 && shape === 'sites' && SITE_KEYS.includes(key)) {
    return `a per-site key cannot stand beside sites:; set it in each site (sites[].${key})`;
  }
  if (path.length === 0 && shape === 'flat' && key === 'name') {
    return `a file without sites: is one site, named "${DEFAULT_SITE_NAME}"; to name sites, list them under sites:`;
  }
  if (path.length > 0 && PROCESS_KEYS.includes(key)) {
    return 'a process-wide key, not a site key; set it once at the top of the file';
  }
  return undefined;
}

function unknownKeyError(shape: DocumentShape, path: KeyPath, key: string, labelOf: LabelOf): ConfigError {
  const valid = keysAt(shape, path);
  const expected = `one of ${valid.join(', ')}`;
  const label = labelOf([...path, key]);
  const misplaced = misplacedKeyDetail(shape, path, key);
  if (misplaced !== undefined) return new ConfigError(label, expected, key, misplaced);
  const suggestion = suggestKey(key, valid);
  const detail = suggestion === undefined ? `unknown key; expected ${expected}` : `unknown key; did you mean ${suggestion}?`;
  return new ConfigError(label, expected, key, detail);
}

/** A value of the wrong form: text is quoted by the standard message, anything else described. */
function valueError(label: string, expected: string, input: unknown): ConfigError {
  if (typeof input === 'string') return new ConfigError(label, expected, input);
  return new ConfigError(label, expected, describeValue(input), `expected ${expected}, got ${describeValue(input)}`);
}

/** A value of the wrong type for `path`, or none where one is required. */
function typeError(label: string, path: KeyPath, input: unknown): ConfigError {
  if (input === undefined) {
    return new ConfigError(label, `${formOf(path)} (required)`, '', `expected ${formOf(path)} (required), got nothing`);
  }
  return valueError(label, formOf(path), input);
}

function isRootTypeIssue(issue: Issue): boolean {
  return issue.path.length === 0 && (issue.code === 'invalid_type' || issue.code === 'invalid_union');
}

/**
 * A union (text or number; one address or a list) that failed: when some branch got past the
 * value's type, its issue is the real one (`listen[1]` of a list); else the value has the wrong type.
 */
function errorOfUnion(issue: Extract<Issue, { code: 'invalid_union' }>, path: KeyPath, shape: DocumentShape, labelOf: LabelOf): ConfigError {
  for (const branch of issue.errors) {
    const [first] = branch;
    if (first !== undefined && !isRootTypeIssue(first)) return errorOfIssue(first, [...path, ...first.path], shape, labelOf);
  }
  return typeError(labelOf(path), path, issue.input);
}

function stringParam(params: Record<string, unknown> | undefined, name: string): string | undefined {
  const value = params?.[name];
  return typeof value === 'string' ? value : undefined;
}

function errorOfIssue(issue: Issue, path: KeyPath, shape: DocumentShape, labelOf: LabelOf): ConfigError {
  const label = labelOf(path);
  switch (issue.code) {
    case 'unrecognized_keys':
      return unknownKeyError(shape, path, issue.keys[0] ?? '', labelOf);
    case 'invalid_union':
      return errorOfUnion(issue, path, shape, labelOf);
    case 'invalid_type':
      return typeError(label, path, issue.input);
    case 'invalid_value':
      return valueError(label, `one of ${issue.values.map(String).join('|')}`, issue.input);
    case 'invalid_format':
      return valueError(label, formOf(path), issue.input);
    case 'too_small':
      if (path.length === 1 && path[0] === 'sites') {
        return new ConfigError(label, 'at least one site', '', 'expected at least one site, got an empty list');
      }
      return valueError(label, formOf(path), issue.input);
    case 'custom': {
      const expected = stringParam(issue.params, 'expected');
      const received = stringParam(issue.params, 'received');
      if (expected !== undefined && received !== undefined) {
        return new ConfigError(label, expected, received, stringParam(issue.params, 'detail'));
      }
      return new ConfigError(label, formOf(path), describeValue(issue.input), issue.message);
    }
    default:
      return new ConfigError(label, formOf(path), describeValue(issue.input), issue.message);
  }
}

/**
 * The one error to report: an unknown key first (a typo such as `upstrem` would otherwise be
 * reported as a missing `upstream`), else the first issue in the order of the schema.
 */
export function configErrorFromIssues(issues: readonly Issue[], shape: DocumentShape, labelOf: LabelOf): ConfigError {
  const issue = issues.find((candidate) => candidate.code === 'unrecognized_keys') ?? issues[0];
  if (issue === undefined) throw new Error('a failed validation without issues');
  return errorOfIssue(issue, issue.path, shape, labelOf);
}
