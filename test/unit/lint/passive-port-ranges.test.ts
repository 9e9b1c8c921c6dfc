/**
 * Integration files run in parallel, so two files that bind the same passive port fail each
 * other at random, and a range inside the kernel's ephemeral range (32768-60999) can find a port
 * taken by any outgoing socket. This reads every `passivePorts:` (and `--passive-ports`) of
 * test/integration/*.ts, resolves the constants it names, and fails on a range it cannot read,
 * on an overlap between two files and on a range that touches the ephemeral range.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const INTEGRATION_DIR = join(import.meta.dirname, '../../integration');
const EPHEMERAL = { low: 32768, high: 60999 };

/** Files whose ranges are configuration text for checks that never bind a port. */
const NEVER_BINDS = new Map([
  ['check-config.test.ts', '--check-config only validates the file'],
  ['probe.test.ts', 'the range is in the advice text the probe prints'],
]);

interface PortRange {
  readonly low: number;
  readonly high: number;
}

interface FileRanges {
  readonly file: string;
  readonly ranges: PortRange[];
  readonly unreadable: string[];
}

/** `const NAME = 123;` and `const NAME = '1-2';` (or a template of constants) of a file. */
function constantsOf(source: string): Map<string, string> {
  const constants = new Map<string, string>();
  for (const match of source.matchAll(/^const ([A-Z_]+) = (\d+|'[^']*'|`[^`]*`);/gm)) {
    const [, name, value] = match;
    if (name !== undefined && value !== undefined) constants.set(name, value.replace(/^['`]|['`]$/g, ''));
  }
  return constants;
}

/** Replaces `${NAME}` and a bare NAME by its constant's value. */
function resolve(expression: string, constants: Map<string, string>): string {
  const templated = expression.replace(/\$\{([A-Z_]+)\}/g, (whole, name: string) => constants.get(name) ?? whole);
  return templated.replace(/\b[A-Z][A-Z_]+\b/g, (name) => constants.get(name) ?? name);
}

function rangesIn(text: string): PortRange[] {
  const ranges: PortRange[] = [];
  for (const match of text.matchAll(/\b(\d{4,5})-(\d{4,5})\b/g)) ranges.push({ low: Number(match[1]), high: Number(match[2]) });
  for (const match of text.matchAll(/low: (\d{4,5}), high: (\d{4,5})/g)) ranges.push({ low: Number(match[1]), high: Number(match[2]) });
  return ranges;
}

/** The expression starting at `start`: a quoted string, a template, an object, or up to `,` `}` `)` or the line end. */
function expressionAt(source: string, start: number): string {
  const first = source[start];
  const closer = first === "'" ? "'" : first === '`' ? '`' : first === '{' ? '}' : undefined;
  if (closer !== undefined) {
    const end = source.indexOf(closer, start + 1);
    return source.slice(start, end === -1 ? undefined : end + 1);
  }
  let end = start;
  let quote: string | undefined;
  for (; end < source.length; end++) {
    const char = source[end];
    if (quote !== undefined) {
      if (char === quote) quote = undefined;
    } else if (char === "'" || char === '`') quote = char;
    else if (char === ',' || char === '}' || char === ')' || char === '\n') break;
  }
  return source.slice(start, end).trim();
}

/** The ranges of one file; an expression after `passivePorts:` that names no range is unreadable. */
function scan(file: string, source: string): FileRanges {
  const constants = constantsOf(source);
  const ranges: PortRange[] = [];
  const unreadable: string[] = [];
  for (const match of source.matchAll(/passivePorts: /g)) {
    const expression = expressionAt(source, match.index + match[0].length);
    // A type annotation or a field read from elsewhere is not a range this file picks.
    if (/^(string|\{ low: number|[a-z]+\.passivePorts)/.test(expression)) continue;
    const found = rangesIn(resolve(expression, constants));
    if (found.length === 0) unreadable.push(expression);
    ranges.push(...found);
  }
  for (const match of source.matchAll(/'--passive-ports', ('[^']*'|`[^`]*`)/g)) ranges.push(...rangesIn(resolve(match[1] ?? '', constants)));
  // A pool made directly: new PassivePortPool({ low: LOW, high: HIGH }).
  for (const match of source.matchAll(/PassivePortPool\(\{ low: ([A-Z_]+|\d+), high: ([A-Z_]+|\d+) \}/g)) {
    ranges.push(...rangesIn(`${resolve(match[1] ?? '', constants)}-${resolve(match[2] ?? '', constants)}`));
  }
  return { file, ranges, unreadable };
}

function overlaps(a: PortRange, b: PortRange): boolean {
  return a.low <= b.high && b.low <= a.high;
}

const format = (range: PortRange): string => `${range.low}-${range.high}`;

const files = readdirSync(INTEGRATION_DIR)
  .filter((name) => name.endsWith('.ts') && !NEVER_BINDS.has(name))
  .sort()
  .map((name) => scan(name, readFileSync(join(INTEGRATION_DIR, name), 'utf8')));

describe('passive port ranges of the integration files', () => {
  it('reads a range in most files (the scan itself works)', () => {
    expect(files.filter((file) => file.ranges.length > 0).length).toBeGreaterThanOrEqual(15);
    expect(files.find((file) => file.file === 'framing.test.ts')?.ranges).toEqual([{ low: 23000, high: 23099 }]);
  });

  it('every passivePorts: names a range the scan can read', () => {
    expect(files.flatMap((file) => file.unreadable.map((expression) => `${file.file}: ${expression}`))).toEqual([]);
  });

  it('no range is inside the ephemeral range 32768-60999', () => {
    const inside = files.flatMap((file) => file.ranges.filter((range) => overlaps(range, EPHEMERAL)).map((range) => `${file.file}: ${format(range)}`));
    expect(inside).toEqual([]);
  });

  it('no two files share a port', () => {
    const clashes: string[] = [];
    for (const [index, file] of files.entries()) {
      for (const other of files.slice(index + 1)) {
        for (const range of file.ranges) {
          const clash = other.ranges.find((candidate) => overlaps(range, candidate));
          if (clash !== undefined) clashes.push(`${file.file} ${format(range)} overlaps ${other.file} ${format(clash)}`);
        }
      }
    }
    expect(clashes).toEqual([]);
  });

  it.each([
    { title: 'a literal', source: "createProxyHarness({ passivePorts: '23900-23909' });", expected: [{ low: 23900, high: 23909 }] },
    { title: 'a template of constants', source: 'const LOW = 23600;\nconst HIGH = 23699;\nx({ passivePorts: `${LOW}-${HIGH}`, y });', expected: [{ low: 23600, high: 23699 }] },
    { title: 'a constant', source: "const PASSIVE_PORTS = '21100-21199';\nx({ passivePorts: PASSIVE_PORTS });", expected: [{ low: 21100, high: 21199 }] },
    { title: 'a conditional', source: "x({ passivePorts: round % 2 === 0 ? '22090-22094' : '22095-22099' });", expected: [{ low: 22090, high: 22094 }, { low: 22095, high: 22099 }] },
    { title: 'an object', source: 'x([{ ...site, passivePorts: { low: 22235, high: 22239 } }]);', expected: [{ low: 22235, high: 22239 }] },
    { title: 'a pool of its own', source: 'const LOW = 28100;\nconst HIGH = 28103;\nnew PassivePortPool({ low: LOW, high: HIGH });', expected: [{ low: 28100, high: 28103 }] },
    { title: 'a CLI flag', source: "[cli, '--passive-ports', '23800-23809']", expected: [{ low: 23800, high: 23809 }] },
  ])('reads $title', ({ source, expected }) => {
    expect(scan('example.ts', source)).toEqual({ file: 'example.ts', ranges: expected, unreadable: [] });
  });

  it('calls an unknown name unreadable', () => {
    expect(scan('example.ts', 'x({ passivePorts: somewhere });').unreadable).toEqual(['somewhere']);
  });
});
