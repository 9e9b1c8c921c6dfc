import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderFlagsTable } from '../../../src/config/options-doc.js';

function readmeRegion(name: string): string {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf(`<!-- ${name}:start -->`);
  const end = readme.indexOf(`<!-- ${name}:end -->`);
  if (start === -1 || end === -1) throw new Error(`README.md lacks the ${name} markers`);
  return readme.slice(start + `<!-- ${name}:start -->`.length, end).trim();
}

describe('README flags table', () => {
  it('equals the table rendered from the option schema', () => {
    expect(readmeRegion('flags')).toBe(renderFlagsTable());
  });
});
