/**
 * The deployed alert rules may name only metrics and label values that ftpmasq serves: a renamed
 * metric or label value must fail here, not silently stop an alert from ever firing. (promtool's own
 * checks, which need Debian's prometheus package, run in test/e2e/prometheus.test.ts.)
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LABEL_VALUES, Metrics } from '../../../src/observability/metrics.js';

const RULES = readFileSync(new URL('../../../deploy/prometheus/ftpmasq-rules.yml', import.meta.url), 'utf8');
const SCRAPE = readFileSync(new URL('../../../deploy/prometheus/prometheus.yml', import.meta.url), 'utf8');

/** The PromQL of every `expr:` (single-line or a `|` block). */
function expressions(rules: string): string[] {
  const found: string[] = [];
  const lines = rules.split('\n');
  lines.forEach((line, index) => {
    const match = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (match === null) return;
    const [, indent = '', rest = ''] = match;
    if (rest !== '|') {
      found.push(rest);
      return;
    }
    const block: string[] = [];
    for (const next of lines.slice(index + 1)) {
      if (next.trim() !== '' && next.search(/\S/) <= indent.length) break;
      block.push(next.trim());
    }
    found.push(block.join(' '));
  });
  return found;
}

describe('deploy/prometheus/ftpmasq-rules.yml', () => {
  const exprs = expressions(RULES);

  it('has the eight alerts, each with severity, summary and description', () => {
    const alerts = [...RULES.matchAll(/^\s*- alert: (\w+)$/gm)].map((match) => match[1]);
    expect(alerts).toEqual([
      'FtpmasqDown',
      'FtpmasqUpstreamDown',
      'FtpmasqUpstreamErrors',
      'FtpmasqPassivePortsNearlyExhausted',
      'FtpmasqPassivePortsExhausted',
      'FtpmasqRefusalsSpiking',
      'FtpmasqPreconnectClosedByServer',
      'FtpmasqKernelNftRestarts',
    ]);
    expect(exprs).toHaveLength(alerts.length);
    expect(RULES.match(/^\s*severity: (critical|warning)$/gm)).toHaveLength(alerts.length);
    expect(RULES.match(/^\s*summary: /gm)).toHaveLength(alerts.length);
    expect(RULES.match(/^\s*description: /gm)).toHaveLength(alerts.length);
  });

  it('names only metrics that a fresh registry serves', async () => {
    const served = new Set((await new Metrics().registry.getMetricsAsJSON()).map((metric) => metric.name));
    const named = new Set(exprs.flatMap((expr) => expr.match(/\bftpmasq_[a-z_]+/g) ?? []));
    expect(named.size).toBeGreaterThan(3);
    for (const name of named) expect(served, name).toContain(name);
  });

  it('matches only label values of the closed sets', () => {
    const allowed = new Map<string, Set<string>>();
    for (const labels of Object.values(LABEL_VALUES)) {
      for (const [label, values] of Object.entries(labels)) allowed.set(label, new Set(values));
    }
    let checked = 0;
    for (const expr of exprs) {
      for (const match of expr.matchAll(/\b(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
        const [, label = '', , value = ''] = match;
        const values = allowed.get(label);
        if (values === undefined) continue; // job="ftpmasq" and the like
        for (const alternative of value.split('|')) {
          expect(values, `${label}="${alternative}" in ${expr}`).toContain(alternative);
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('is the rule file the scrape config loads, and the scrape config targets port 9464 as job ftpmasq', () => {
    expect(SCRAPE).toMatch(/^rule_files:\n(?:\s+#.*\n)*\s+- ftpmasq-rules\.yml$/m);
    expect(SCRAPE).toMatch(/job_name: ftpmasq\n/);
    expect(SCRAPE).toMatch(/- 127\.0\.0\.1:9464\n/);
    expect(RULES).toContain('up{job="ftpmasq"}');
  });
});
