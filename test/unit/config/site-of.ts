/** The one site of a flat config file given as text (after `upstream: 10.0.0.1:21`), or the error it gives. */
import { configFromDocument, parseConfigText } from '../../../src/config/load-config.js';
import type { SiteConfig } from '../../../src/config/types.js';
import { configErrorOf } from './config-error-of.js';

const SOURCE = '/etc/ftpmasq.yaml';

export function siteOf(text: string): SiteConfig {
  const [site] = configFromDocument(parseConfigText(`upstream: 10.0.0.1:21\n${text}`, SOURCE), { source: SOURCE }).sites;
  if (site === undefined) throw new Error('no site');
  return site;
}

/** The message of the ConfigError the text gives; fails the test if it loads. */
export function siteErrorOf(text: string): string {
  return configErrorOf(() => siteOf(text)).message;
}
