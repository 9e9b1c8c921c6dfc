/**
 * ftpmasq's own version, read once from its package.json at run time: `--version`, the
 * `ftpmasq_build_info` metric and the ready log line all say the same, and a release changes
 * only package.json. The file is found from this module's own location (src/ when tests run the
 * sources, dist/ in the repository and in an installed package), never from the working directory.
 */
import { readFileSync } from 'node:fs';

const PACKAGE_NAME = 'ftpmasq';
/** src/package-info.ts and dist/package-info.js sit one level below package.json. */
const PACKAGE_JSON = new URL('../package.json', import.meta.url);

let cachedVersion: string | undefined;

/** The `version` of a package.json text, or a reason why there is none usable. */
export function parsePackageVersion(text: string): { ok: true; value: string } | { ok: false; reason: string } {
  let manifest: unknown;
  try {
    manifest = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (typeof manifest !== 'object' || manifest === null) return { ok: false, reason: 'not a JSON object' };
  const name: unknown = Reflect.get(manifest, 'name');
  const version: unknown = Reflect.get(manifest, 'version');
  if (name !== PACKAGE_NAME) return { ok: false, reason: `name is ${JSON.stringify(name)}, not "${PACKAGE_NAME}"` };
  if (typeof version !== 'string' || version === '') return { ok: false, reason: 'no version string' };
  return { ok: true, value: version };
}

/** ftpmasq's version; throws (an installation error, not bad input) when package.json is missing or wrong. */
export function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  let text: string;
  try {
    text = readFileSync(PACKAGE_JSON, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${PACKAGE_JSON.pathname}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const parsed = parsePackageVersion(text);
  if (!parsed.ok) throw new Error(`${PACKAGE_JSON.pathname} is not ftpmasq's package.json: ${parsed.reason}`);
  cachedVersion = parsed.value;
  return cachedVersion;
}
