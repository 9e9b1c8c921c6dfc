/**
 * The flags as a configuration: `buildConfig(raw)` validates them as a one-site document with
 * the same zod schema a config file goes through (document-schema.ts), and errors name the flag.
 * The option table itself is in option-specs.ts, re-exported here.
 */
import { configErrorFromIssues, type KeyPath } from './config-issues.js';
import { flatDocumentSchema } from './document-schema.js';
import { findSpec, type RawOptions } from './option-specs.js';
import type { DaemonConfig } from './types.js';

export { ACTIVE_MODES, EPSV_MODES, LOG_LEVELS, MODES } from './types.js';
export type { ActiveMode, DaemonConfig, EpsvMode, LogLevel, Mode, SiteConfig } from './types.js';
export { DEFAULT_SITE_NAME, DEFAULT_TIMEOUTS_MS, OPTION_SPECS } from './option-specs.js';
export type { OptionScope, OptionSpec, RawOptions } from './option-specs.js';

/** `--passive-ports` for `passivePorts`, `--listen` for `listen[1]`. */
export function flagLabel(path: KeyPath): string {
  const [key] = path;
  return findSpec(key ?? '')?.flag ?? String(key);
}

/** Validates raw option values into a one-site configuration; throws ConfigError naming the flag. */
export function buildConfig(raw: RawOptions): DaemonConfig {
  const result = flatDocumentSchema.safeParse(raw, { reportInput: true });
  if (!result.success) throw configErrorFromIssues(result.error.issues, 'flat', flagLabel);
  return result.data;
}
