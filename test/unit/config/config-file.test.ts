import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, mergeRawOptions, rawOptionsFromDocument } from '../../../src/config/config-file.js';
import { buildConfig } from '../../../src/config/schema.js';
import { ConfigError } from '../../../src/config/values.js';

const example = fileURLToPath(new URL('../../../config/ftpmasq.example.yaml', import.meta.url));

describe('config file', () => {
  it('loads the shipped example into a valid Config', () => {
    const daemonConfig = buildConfig(loadConfigFile(example));
    const config = { ...daemonConfig.sites[0], metricsListen: daemonConfig.metricsListen };
    expect(config.upstream).toEqual({ host: '10.0.11.251', port: 21 });
    expect(config.publicAddress).toBe('203.0.113.10');
    expect(config.passivePorts).toEqual({ low: 60000, high: 60999 });
    expect(config.listen).toEqual([{ host: '0.0.0.0', port: 21 }]);
    expect(config.metricsListen).toEqual({ host: '127.0.0.1', port: 9464 });
  });

  it('accepts numbers where flags take text, and a single listen value', () => {
    const raw = rawOptionsFromDocument('f.yaml', { listen: '127.0.0.1:2121', maxSessions: 5, upstream: 'ftp.internal:21' });
    expect(raw).toEqual({ listen: ['127.0.0.1:2121'], maxSessions: '5', upstream: 'ftp.internal:21' });
  });

  const bad: Array<{ title: string; document: unknown; field: string }> = [
    { title: 'an unknown key', document: { pasv: 'x' }, field: 'f.yaml: pasv' },
    { title: 'a mapping where text belongs', document: { upstream: { host: 'x' } }, field: 'f.yaml: upstream' },
    { title: 'a bad listen list item', document: { listen: ['0.0.0.0:21', null] }, field: 'f.yaml: listen[1]' },
    { title: 'a list at the top', document: ['upstream'], field: 'f.yaml' },
  ];
  for (const { title, document, field } of bad) {
    it(`rejects ${title}, naming the key`, () => {
      expect(() => rawOptionsFromDocument('f.yaml', document)).toThrow(ConfigError);
      try {
        rawOptionsFromDocument('f.yaml', document);
      } catch (error) {
        expect(error instanceof ConfigError && error.field).toBe(field);
      }
    });
  }

  it('lets flags win over the file', () => {
    const merged = mergeRawOptions({ upstream: 'a:21', mode: 'rewrite', listen: ['0.0.0.0:21'] }, { mode: 'relay', listen: ['[::]:21'] });
    expect(merged).toEqual({ upstream: 'a:21', mode: 'relay', listen: ['[::]:21'] });
  });

  it('names the file when it cannot be read', () => {
    expect(() => loadConfigFile('/nonexistent/ftpmasq.yaml')).toThrow(/--config: expected a readable YAML file/);
  });
});
