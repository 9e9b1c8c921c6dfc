/**
 * src/site/site-policy.ts decides and does nothing: its only runtime imports are the pure protocol
 * core; the config and metrics modules are imported for their types alone (erased at build).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const source = readFileSync(new URL('../../../src/site/site-policy.ts', import.meta.url), 'utf8');
const imports = [...source.matchAll(/^import\s+(type\s+)?[\s\S]*?from\s+'([^']+)';/gm)].map((match) => ({
  typeOnly: match[1] !== undefined,
  from: match[2] ?? '',
}));

describe('site-policy purity', () => {
  it('finds its imports', () => {
    expect(imports.length).toBeGreaterThan(2);
  });

  it.each(imports)('$from', ({ typeOnly, from }) => {
    if (!typeOnly) expect(from).toMatch(/^\.\.\/protocol\//);
  });

  it.each(['setTimeout', 'setInterval', 'process.', 'console.', 'node:'])('uses no %s', (word) => {
    expect(source).not.toContain(word);
  });
});
