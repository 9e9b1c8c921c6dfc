import { describe, expect, it } from 'vitest';
import { describeValue, editDistance, formatKeyPath, formOf, suggestKey } from '../../../src/config/config-issues.js';
import { PROCESS_KEYS, SITE_KEYS, SITE_OPTION_KEYS } from '../../../src/config/document-schema.js';

describe('editDistance', () => {
  it.each([
    { a: '', b: '', distance: 0 },
    { a: 'abc', b: '', distance: 3 },
    { a: 'kitten', b: 'sitting', distance: 3 },
    { a: 'pasivetimeout', b: 'passivetimeout', distance: 1 },
    { a: 'upstrem', b: 'upstream', distance: 1 },
    { a: 'lsiten', b: 'listen', distance: 1 },
    { a: 'mode', b: 'epsv', distance: 4 },
  ])('$a -> $b: $distance', ({ a, b, distance }) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});

describe('suggestKey', () => {
  const siteKeys = SITE_KEYS;
  it.each([
    { key: 'pasiveTimeout', candidates: siteKeys, suggestion: 'passiveTimeout' },
    { key: 'passivetimeout', candidates: siteKeys, suggestion: 'passiveTimeout' },
    { key: 'passive_timeout', candidates: siteKeys, suggestion: 'passiveTimeout' },
    { key: 'passive-ports', candidates: siteKeys, suggestion: 'passivePorts' },
    { key: 'upstrem', candidates: siteKeys, suggestion: 'upstream' },
    { key: 'lsiten', candidates: siteKeys, suggestion: 'listen' },
    { key: 'node', candidates: siteKeys, suggestion: 'mode' },
    { key: 'maxSession', candidates: siteKeys, suggestion: 'maxSessions' },
    { key: 'idleTimout', candidates: siteKeys, suggestion: 'idleTimeout' },
    { key: 'site', candidates: [...PROCESS_KEYS, 'sites'], suggestion: 'sites' },
    { key: 'loglevel', candidates: [...PROCESS_KEYS, 'sites'], suggestion: 'logLevel' },
    { key: 'colour', candidates: siteKeys, suggestion: undefined },
    { key: 'timeout', candidates: siteKeys, suggestion: undefined },
    { key: 'x', candidates: siteKeys, suggestion: undefined },
    { key: 'anything', candidates: [], suggestion: undefined },
  ])('$key -> $suggestion', ({ key, candidates, suggestion }) => {
    expect(suggestKey(key, candidates)).toBe(suggestion);
  });

  it('never suggests a key for an exact valid key written differently than any other', () => {
    for (const key of [...SITE_OPTION_KEYS, ...PROCESS_KEYS]) expect(suggestKey(key, [...SITE_OPTION_KEYS, ...PROCESS_KEYS])).toBe(key);
  });
});

describe('formatKeyPath', () => {
  it.each([
    { path: [], text: '' },
    { path: ['upstream'], text: 'upstream' },
    { path: ['sites', 1, 'passivePorts'], text: 'sites[1].passivePorts' },
    { path: ['sites', 0, 'listen', 2], text: 'sites[0].listen[2]' },
    { path: ['listen', 1], text: 'listen[1]' },
  ])('$text', ({ path, text }) => {
    expect(formatKeyPath(path)).toBe(text);
  });
});

describe('describeValue', () => {
  it.each([
    { value: undefined, text: 'nothing' },
    { value: null, text: 'an empty value' },
    { value: 'x', text: '"x"' },
    { value: '', text: '""' },
    { value: 5, text: '5' },
    { value: true, text: 'true' },
    { value: [1], text: 'a list' },
    { value: { a: 1 }, text: 'a mapping' },
  ])('$text', ({ value, text }) => {
    expect(describeValue(value)).toBe(text);
  });
});

describe('formOf', () => {
  it.each([
    { path: [], form: 'a mapping of config keys' },
    { path: ['sites'], form: 'a list of sites' },
    { path: ['sites', 0], form: 'a site: a mapping with name:, upstream: and the other site keys' },
    { path: ['sites', 0, 'name'], form: 'a name of letters, digits, "_", "." and "-"' },
    { path: ['listen'], form: 'IP:PORT or a list of them' },
    { path: ['sites', 0, 'listen', 1], form: 'IP:PORT or [IPv6]:PORT' },
    { path: ['upstream'], form: 'HOST:PORT' },
    { path: ['idleTimeout'], form: 'a duration such as 30s, 1.5s, 500ms or 5m' },
    { path: ['maxSessions'], form: 'a whole number' },
    { path: ['passivePorts'], form: 'LOW-HIGH (e.g. 60000-60999)' },
    { path: ['mode'], form: 'relay|rewrite|kernel' },
  ])('$path: $form', ({ path, form }) => {
    expect(formOf(path)).toBe(form);
  });
});
