import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { packageVersion, parsePackageVersion } from '../../src/package-info.js';

describe('parsePackageVersion', () => {
  const cases: { title: string; input: string; expected: ReturnType<typeof parsePackageVersion> }[] = [
    { title: "ftpmasq's manifest", input: '{"name":"ftpmasq","version":"1.2.3"}', expected: { ok: true, value: '1.2.3' } },
    { title: 'a pre-release', input: '{"name":"ftpmasq","version":"0.2.0-rc.1"}', expected: { ok: true, value: '0.2.0-rc.1' } },
    { title: 'another package', input: '{"name":"other","version":"1.0.0"}', expected: { ok: false, reason: 'name is "other", not "ftpmasq"' } },
    { title: 'no version', input: '{"name":"ftpmasq"}', expected: { ok: false, reason: 'no version string' } },
    { title: 'an empty version', input: '{"name":"ftpmasq","version":""}', expected: { ok: false, reason: 'no version string' } },
    { title: 'a number as version', input: '{"name":"ftpmasq","version":1}', expected: { ok: false, reason: 'no version string' } },
    { title: 'an array', input: '[]', expected: { ok: false, reason: 'name is undefined, not "ftpmasq"' } },
    { title: 'null', input: 'null', expected: { ok: false, reason: 'not a JSON object' } },
    { title: 'not JSON', input: '{"name":', expected: { ok: false, reason: 'not JSON' } },
  ];
  it.each(cases)('$title', ({ input, expected }) => {
    expect(parsePackageVersion(input)).toEqual(expected);
  });
});

describe('packageVersion', () => {
  it("is the repository package.json's version, the same on every call", () => {
    const manifest: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(typeof manifest === 'object' && manifest !== null ? Reflect.get(manifest, 'version') : undefined).toBe(packageVersion());
    expect(packageVersion()).toBe(packageVersion());
  });
});
