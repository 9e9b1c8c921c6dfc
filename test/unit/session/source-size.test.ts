/**
 * Keeps the split of the session honest: no file under src/ over 400 lines, and the session
 * itself (routing between its two channels, the one close) under 300. A file that grows past
 * this is a seam waiting to be cut (docs/DESIGN.md, "The seams").
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const SRC = new URL('../../../src/', import.meta.url);
const MAX_LINES = 400;
const SESSION_FILE = 'session/control-session.ts';
const MAX_SESSION_LINES = 300;

function lineCount(path: string): number {
  const text = readFileSync(new URL(path, SRC), 'utf8');
  return text.endsWith('\n') ? text.split('\n').length - 1 : text.split('\n').length;
}

const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' })
  .filter((path) => path.endsWith('.ts'))
  .map((path) => path.split('\\').join('/'));

describe('source file sizes', () => {
  it('finds the sources', () => {
    expect(files).toContain(SESSION_FILE);
    expect(files.length).toBeGreaterThan(30);
  });

  it.each(files)(`%s has at most ${MAX_LINES} lines`, (path) => {
    expect(lineCount(path)).toBeLessThanOrEqual(MAX_LINES);
  });

  it(`${SESSION_FILE} has fewer than ${MAX_SESSION_LINES} lines`, () => {
    expect(lineCount(SESSION_FILE)).toBeLessThan(MAX_SESSION_LINES);
  });
});
