/** The shipped example and the README's config section show files ftpmasq accepts, every key documented. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROCESS_KEYS, SITE_KEYS } from '../../../src/config/document-schema.js';
import { configFromDocument, loadConfig, parseConfigText } from '../../../src/config/load-config.js';
import { OPTION_SPECS } from '../../../src/config/option-specs.js';
import { configErrorOf } from './config-error-of.js';

const examplePath = fileURLToPath(new URL('../../../config/ftpmasq.example.yaml', import.meta.url));
const example = readFileSync(examplePath, 'utf8');
const exampleLines = example.split('\n');

/** Keys the example cannot set without shipping a certificate and its key (or pinning one): shown commented out. */
const COMMENTED_KEYS: ReadonlySet<string> = new Set([...OPTION_SPECS.filter((spec) => spec.valueName === 'FILE').map((spec) => spec.key), 'tlsListen', 'upstreamTlsFingerprint']);

/** The comment lines right above the first line that sets `key` (at any depth), or shows it commented out. */
function commentAbove(key: string): string {
  const prefix = COMMENTED_KEYS.has(key) ? '# ' : '(- )?';
  const index = exampleLines.findIndex((line) => new RegExp(`^\\s*${prefix}${key}:`).test(line));
  if (index === -1) throw new Error(`the example never sets ${key}`);
  const comments: string[] = [];
  for (let line = index - 1; line >= 0 && /^\s*-?\s*#/.test(exampleLines[line] ?? ''); line--) comments.unshift(exampleLines[line] ?? '');
  return comments.join('\n');
}

describe('config/ftpmasq.example.yaml', () => {
  it('points editors at the JSON Schema on its first line', () => {
    expect(exampleLines[0]).toBe('# yaml-language-server: $schema=./ftpmasq.schema.json');
  });

  it('loads into the process keys and two sites', () => {
    const { config } = loadConfig({ configPath: examplePath, flags: {} });
    expect(config.sites.map((site) => site.name)).toEqual(['legacy', 'archive']);
    expect(config.sites[0]?.upstream).toEqual({ host: '10.0.11.251', port: 21 });
    expect(config.sites[0]?.listen).toEqual([{ host: '0.0.0.0', port: 21 }, { host: '::', port: 21 }]);
    expect(config.sites[1]?.epsv).toBe('translate');
    expect(config.metricsListen).toEqual({ host: '127.0.0.1', port: 9464 });
  });

  it('sets every process key, and every site key in its first site', () => {
    const document = parseConfigText(example, examplePath);
    if (typeof document !== 'object' || document === null || !('sites' in document) || !Array.isArray(document.sites)) {
      throw new Error('the example has no sites list');
    }
    const [first]: unknown[] = document.sites;
    expect(Object.keys(document)).toEqual([...PROCESS_KEYS, 'sites']);
    expect(typeof first === 'object' && first !== null ? Object.keys(first) : []).toEqual(SITE_KEYS.filter((key) => !COMMENTED_KEYS.has(key)));
  });

  it.each(OPTION_SPECS.map((spec) => ({ key: spec.key, defaultValue: spec.defaultValue })))(
    'says the default of $key in the comment above it',
    ({ key, defaultValue }) => {
      const expected = defaultValue === undefined ? (key === 'upstream' ? 'Required.' : 'No default') : `Default: ${defaultValue}.`;
      expect(commentAbove(key)).toContain(expected);
    },
  );
});

describe("the README's config file section", () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Config file'), readme.indexOf('## Deployment'));
  const yamlBlock = /^```yaml\n([\s\S]*?)^```$/m.exec(section)?.[1] ?? '';

  it('shows a file with sites that ftpmasq accepts', () => {
    const config = configFromDocument(parseConfigText(yamlBlock, 'README'), { source: 'README' });
    expect(config.sites.map((site) => site.name)).toEqual(['legacy', 'archive']);
  });

  it("shows the error ftpmasq gives when that file's second passive range is one number", () => {
    const shownError = /^ftpmasq: (\/etc\/ftpmasq\.yaml: .*)$/m.exec(section)?.[1];
    const broken = yamlBlock.replace('passivePorts: 61000-61099', 'passivePorts: 60000');
    const source = '/etc/ftpmasq.yaml';
    expect(configErrorOf(() => configFromDocument(parseConfigText(broken, source), { source })).message).toBe(shownError);
  });
});
