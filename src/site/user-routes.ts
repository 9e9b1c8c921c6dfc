/**
 * User routing, pure: which upstream a login goes to, by its user name (`routes` of a site, first
 * match wins, the site's `upstream` otherwise), and the checks a route's pattern passes at load.
 *
 * Patterns are JavaScript regular expressions (the `u` flag), matched against the whole name:
 * `alice` routes alice, not malice (write `.*alice.*` for a part). A backtracking engine takes
 * exponential time on nested quantifiers (`(a+)+`, `(a|a)*`) and polynomial time on many
 * unbounded quantifiers in a row, and the name comes from a client. So a pattern is refused when a
 * quantifier applies to a group that holds a quantifier or an alternation, when it has more than
 * MAX_UNBOUNDED_QUANTIFIERS unbounded ones, or when it is over MAX_PATTERN_LENGTH; and a name over
 * MAX_ROUTED_NAME_LENGTH characters is not matched at all (it takes the site's upstream).
 */
import type { Endpoint } from '../config/values.js';

export const MAX_PATTERN_LENGTH = 256;
export const MAX_UNBOUNDED_QUANTIFIERS = 4;
/** With at most 4 unbounded quantifiers, a 128-character name costs at worst about 10^7 steps. */
export const MAX_ROUTED_NAME_LENGTH = 128;

export interface UserRoute {
  /** As written in the configuration (logs, the effective config). */
  readonly user: string;
  /** Anchored: `^(?:user)$`. */
  readonly pattern: RegExp;
  readonly upstream: Endpoint;
}

export type PatternResult = { readonly ok: true; readonly value: RegExp } | { readonly ok: false; readonly reason: string };

/** Compiles a route's `user` pattern, anchored, or says why it is refused. */
export function compileUserPattern(source: string): PatternResult {
  if (source.length === 0) return { ok: false, reason: 'the pattern is empty' };
  if (source.length > MAX_PATTERN_LENGTH) return { ok: false, reason: `the pattern is longer than ${MAX_PATTERN_LENGTH} characters` };
  let pattern: RegExp;
  try {
    pattern = new RegExp(`^(?:${source})$`, 'u');
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
  const risk = backtrackingRisk(source);
  return risk === undefined ? { ok: true, value: pattern } : { ok: false, reason: risk };
}

interface GroupFrame {
  quantified: boolean;
  alternation: boolean;
}

const QUANTIFIER = /^(?:[*+?]|\{\d+(?:,\d*)?\})/;

/**
 * Why the pattern could backtrack without bound, or undefined. Reads a source RegExp with the `u`
 * flag already accepted: escapes, classes and groups are well formed.
 */
export function backtrackingRisk(source: string): string | undefined {
  const frames: GroupFrame[] = [{ quantified: false, alternation: false }];
  let unbounded = 0;
  let index = 0;
  /** The atom just read was a group: what it held. */
  let closedGroup: GroupFrame | undefined;
  while (index < source.length) {
    const char = source[index];
    const frame = frames[frames.length - 1];
    if (frame === undefined) return undefined;
    const quantifier = QUANTIFIER.exec(source.slice(index))?.[0];
    if (quantifier !== undefined) {
      if (closedGroup !== undefined && (closedGroup.quantified || closedGroup.alternation)) {
        return 'a quantifier applies to a group that holds a quantifier or "|" (nested repetition backtracks exponentially); write [ab]+ rather than (a|b)+';
      }
      if (quantifier === '*' || quantifier === '+' || quantifier.endsWith(',}')) unbounded++;
      frame.quantified = true;
      closedGroup = undefined;
      index += quantifier.length;
      if (source[index] === '?') index++;
      continue;
    }
    closedGroup = undefined;
    if (char === '\\') {
      index += 2;
    } else if (char === '[') {
      index = classEnd(source, index + 1);
    } else if (char === '(') {
      frames.push({ quantified: false, alternation: false });
      index++;
      // (?:  (?=  (?!  (?<=  (?<!  (?<name>: the ? here is no quantifier.
      if (source[index] === '?') index = groupBodyStart(source, index);
    } else if (char === ')') {
      const closed = frames.pop();
      const parent = frames[frames.length - 1];
      if (closed !== undefined && parent !== undefined) {
        parent.quantified ||= closed.quantified;
        parent.alternation ||= closed.alternation;
        closedGroup = closed;
      }
      index++;
    } else {
      if (char === '|') frame.alternation = true;
      index++;
    }
  }
  if (unbounded > MAX_UNBOUNDED_QUANTIFIERS) {
    return `more than ${MAX_UNBOUNDED_QUANTIFIERS} unbounded quantifiers (*, +, {n,}) backtrack too long on a long name`;
  }
  return undefined;
}

/** The index after the `]` that closes a class opened before `start`. */
function classEnd(source: string, start: number): number {
  let index = start;
  while (index < source.length && source[index] !== ']') index += source[index] === '\\' ? 2 : 1;
  return index + 1;
}

/** `index` is at the `?` after `(`: the index of the group's first character. */
function groupBodyStart(source: string, index: number): number {
  const next = source[index + 1];
  if (next === ':' || next === '=' || next === '!') return index + 2;
  if (next === '<' && (source[index + 2] === '=' || source[index + 2] === '!')) return index + 3;
  if (next === '<') {
    const close = source.indexOf('>', index);
    return close === -1 ? source.length : close + 1;
  }
  return index + 1;
}

/** Where a login goes: the first route whose pattern matches the name, else the site's upstream. */
export interface RouteChoice {
  readonly upstream: Endpoint;
  /** The index of the route that matched; undefined for the site's upstream. */
  readonly route: number | undefined;
}

export function chooseUpstream(site: { readonly routes: readonly UserRoute[]; readonly upstream: Endpoint }, userName: string): RouteChoice {
  if (userName.length <= MAX_ROUTED_NAME_LENGTH) {
    const index = site.routes.findIndex((route) => route.pattern.test(userName));
    const route = site.routes[index];
    if (route !== undefined) return { upstream: route.upstream, route: index };
  }
  return { upstream: site.upstream, route: undefined };
}
