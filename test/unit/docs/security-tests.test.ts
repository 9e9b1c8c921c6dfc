/**
 * docs/SECURITY.md, "Which test proves each rule": every test it names exists in the file it
 * names, so a renamed or deleted test cannot leave a rule pointing at nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../../..');
const SECURITY = readFileSync(join(ROOT, 'docs/SECURITY.md'), 'utf8');
/** Enough of a name to find it; the rest may hold a template (`$verb`, `%s`) or a note. */
const NAME_PREFIX_CHARS = 40;

interface Citation {
  readonly rule: string;
  readonly files: readonly string[];
  readonly names: readonly string[];
}

function citations(): Citation[] {
  const start = SECURITY.indexOf('## Which test proves each rule');
  const rows = SECURITY.slice(start).split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| Rule') && !line.startsWith('| ---'));
  const result: Citation[] = [];
  let rule = '';
  for (const row of rows) {
    const [ruleCell = '', fileCell = '', testCell = ''] = row.slice(1, -1).split('|').map((cell) => cell.trim());
    if (ruleCell.trim() !== '') rule = ruleCell.trim();
    const files = [...fileCell.matchAll(/`([^`]+)`/g)].map((match) => match[1] ?? '');
    const names = testCell.split('<br>').flatMap((test) => test.split(' > ').slice(-1));
    result.push({ rule, files, names });
  }
  return result;
}

/** The longest fixed part of a cited name, without its note and between template placeholders. */
function fixedPart(name: string): string {
  const note = name.search(/ \((?:pasv|port|runs|the upstream|every)/);
  const withoutNote = note === -1 ? name : name.slice(0, note);
  const segments = withoutNote.split(/\$\w+|%s|…/).map((segment) => segment.trim());
  const longest = segments.reduce((best, segment) => (segment.length > best.length ? segment : best), '');
  return longest.slice(0, NAME_PREFIX_CHARS);
}

describe('docs/SECURITY.md test map', () => {
  const cited = citations();

  it('maps at least the twenty rules of the table', () => {
    expect(new Set(cited.map((citation) => citation.rule)).size).toBeGreaterThanOrEqual(20);
  });

  it.each(cited.map((citation, index) => ({ ...citation, index })))('row $index ($rule): the files exist and hold the tests', ({ files, names }) => {
    expect(files.length).toBeGreaterThan(0);
    const sources = files.map((file) => {
      expect(existsSync(join(ROOT, file)), file).toBe(true);
      return readFileSync(join(ROOT, file), 'utf8');
    });
    for (const name of names) {
      if (name.trim() === 'every table row' || name.trim().startsWith('a command that the server reads')) continue;
      const wanted = fixedPart(name);
      expect(wanted.length, name).toBeGreaterThan(8);
      expect(sources.some((source) => source.includes(wanted)), `"${wanted}" in ${files.join(', ')}`).toBe(true);
    }
  });
});
