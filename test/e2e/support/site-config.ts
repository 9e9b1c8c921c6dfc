/**
 * ftpmasq's YAML config file for the e2e tier: process keys and a list of sites, written where ftpmasq
 * (in the gateway namespace; namespaces share the file system) reads it at start and on SIGHUP.
 * Written to a temporary name and renamed, so a reload never reads half a file.
 */
import { rename, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

/** One site, keys as the file spells them; durations and ranges as text (`2s`, `60000-60499`). */
export interface SiteSpec {
  readonly name: string;
  readonly listen: string | readonly string[];
  readonly upstream: string;
  readonly publicAddress?: string;
  readonly passivePorts: string;
  readonly mode?: 'relay' | 'rewrite';
  readonly epsv?: string;
  readonly active?: string;
  readonly passiveTimeout?: string;
  readonly upstreamConnectTimeout?: string;
  readonly maxSessions?: number;
  readonly greetingTimeout?: string;
  readonly loginTimeout?: string;
  readonly idleTimeout?: string;
  readonly dataStallTimeout?: string;
}

export interface DaemonFileSpec {
  readonly metricsListen?: string;
  readonly logLevel?: string;
  readonly drainTimeout?: string;
  readonly sites: readonly SiteSpec[];
}

/** The file's text for `spec` (keys in the order given). */
export function renderConfig(spec: DaemonFileSpec): string {
  return stringify(spec, { lineWidth: 0 });
}

/** Writes `text` to `path` in one step (temporary file, then rename); returns the text. */
export async function writeConfigText(path: string, text: string): Promise<string> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode: 0o644 });
  await rename(temporary, path);
  return text;
}

export function writeConfig(path: string, spec: DaemonFileSpec): Promise<string> {
  return writeConfigText(path, renderConfig(spec));
}

/** `LOW-HIGH` as numbers, for checking the port inside a 227. */
export interface PortRange {
  readonly low: number;
  readonly high: number;
}

export function portRange(text: string): PortRange {
  const match = /^(\d+)-(\d+)$/.exec(text);
  if (match?.[1] === undefined || match[2] === undefined) throw new Error(`not a LOW-HIGH range: ${text}`);
  return { low: Number(match[1]), high: Number(match[2]) };
}

export function inRange(port: number, range: PortRange): boolean {
  return port >= range.low && port <= range.high;
}
