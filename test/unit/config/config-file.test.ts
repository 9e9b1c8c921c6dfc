import { describe, expect, it } from 'vitest';
import { rawOptionsFromDocument } from '../../../src/config/config-file.js';
import { ConfigError } from '../../../src/config/values.js';

describe('rawOptionsFromDocument (a flat document as the flags\' raw strings)', () => {
  it('accepts numbers where flags take text, and a single listen value', () => {
    const raw = rawOptionsFromDocument('f.yaml', { listen: '127.0.0.1:2121', maxSessions: 5, upstream: 'ftp.internal:21' });
    expect(raw).toEqual({ listen: ['127.0.0.1:2121'], maxSessions: '5', upstream: 'ftp.internal:21' });
  });

  it('takes the new timeouts like any other key', () => {
    expect(rawOptionsFromDocument('f.yaml', { idleTimeout: '10m', drainTimeout: 5 })).toEqual({ idleTimeout: '10m', drainTimeout: '5' });
  });

  const bad: Array<{ title: string; document: unknown; field: string }> = [
    { title: 'an unknown key', document: { pasv: 'x' }, field: 'f.yaml: pasv' },
    { title: 'a mapping where text belongs', document: { upstream: { host: 'x' } }, field: 'f.yaml: upstream' },
    { title: 'a bad listen list item', document: { listen: ['0.0.0.0:21', null] }, field: 'f.yaml: listen[1]' },
    { title: 'a list at the top', document: ['upstream'], field: 'f.yaml' },
  ];
  it.each(bad)('rejects $title, naming the key', ({ document, field }) => {
    let caught: unknown;
    try {
      rawOptionsFromDocument('f.yaml', document);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect(caught instanceof ConfigError && caught.field).toBe(field);
  });
});
