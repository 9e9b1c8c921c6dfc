import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FILE_ONLY_SITE_KEYS, PROCESS_KEYS, SITE_KEYS, SITE_OPTION_KEYS } from '../../../src/config/document-schema.js';
import { renderJsonSchema } from '../../../src/config/json-schema.js';
import { OPTION_SPECS } from '../../../src/config/option-specs.js';

const committed = readFileSync(new URL('../../../config/ftpmasq.schema.json', import.meta.url), 'utf8');

/** A JSON object's members, or a failure naming where the schema lacks one. */
function objectAt(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${where} is not an object`);
  return Object.fromEntries(Object.entries(value));
}

function propertiesOf(schema: unknown, where: string): Record<string, unknown> {
  return objectAt(objectAt(schema, where)['properties'], `${where}.properties`);
}

describe('config/ftpmasq.schema.json', () => {
  it('is what `npm run schema` writes from the zod schema today (run it after changing the schema)', () => {
    expect(committed).toBe(renderJsonSchema());
  });

  const schema = objectAt(JSON.parse(committed), 'schema');
  const [sitesForm, flatForm] = Array.isArray(schema['anyOf']) ? schema['anyOf'] : [];
  const siteItem = objectAt(propertiesOf(sitesForm, 'sites form')['sites'], 'sites').items;

  it('offers both forms: process keys with sites, and one site at the top', () => {
    expect(Object.keys(propertiesOf(sitesForm, 'sites form'))).toEqual([...PROCESS_KEYS, 'sites']);
    expect(Object.keys(propertiesOf(flatForm, 'flat form'))).toEqual([...SITE_OPTION_KEYS, ...PROCESS_KEYS]);
    expect(Object.keys(propertiesOf(siteItem, 'site'))).toEqual([...SITE_KEYS]);
    expect(objectAt(siteItem, 'site')['required']).toEqual(['name', 'upstream']);
    expect(objectAt(siteItem, 'site')['additionalProperties']).toBe(false);
  });

  it('holds every option with its description, its flag and its default', () => {
    const flat = propertiesOf(flatForm, 'flat form');
    const flagKeys = [...SITE_OPTION_KEYS, ...PROCESS_KEYS].filter((key) => !FILE_ONLY_SITE_KEYS.includes(key));
    expect(flagKeys.sort()).toEqual(OPTION_SPECS.map((spec) => spec.key).sort());
    for (const key of FILE_ONLY_SITE_KEYS) expect(objectAt(flat[key], key)['description']).toEqual(expect.stringContaining('Config file only.'));
    for (const spec of OPTION_SPECS) {
      const property = objectAt(flat[spec.key], spec.key);
      expect(property['description']).toEqual(expect.stringContaining(`Flag: ${spec.flag}.`));
      expect(property['default']).toBe(spec.defaultValue);
    }
  });

  it('lists the choices of each choice option', () => {
    const site = propertiesOf(siteItem, 'site');
    expect(objectAt(site['mode'], 'mode')['enum']).toEqual(['relay', 'rewrite', 'kernel']);
    expect(objectAt(site['epsv'], 'epsv')['enum']).toEqual(['passthrough', 'translate', 'disable']);
  });
});
