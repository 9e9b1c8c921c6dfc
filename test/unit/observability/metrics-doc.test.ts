import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  documentationMetrics,
  renderMetricsTable,
  renderReadmeMetricsSection,
  replaceMarkedRegion,
} from '../../../src/observability/metrics-doc.js';
import { LABEL_VALUES, Metrics, OPEN_LABELS, SITE_LABEL, isDefaultMetric } from '../../../src/observability/metrics.js';

const README = new URL('../../../README.md', import.meta.url);
const START = '<!-- metrics:start -->';
const END = '<!-- metrics:end -->';

function readmeMetricsRegion(): string {
  const readme = readFileSync(README, 'utf8');
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  if (start === -1 || end === -1 || end < start) throw new Error(`README.md lacks the ${START} ... ${END} markers`);
  return readme.slice(start + START.length, end).trim();
}

/** The first cell of each body row, backticks removed. */
function tableNames(table: string): string[] {
  return table
    .split('\n')
    .slice(2)
    .map((row) => (row.split(' | ')[0] ?? '').replace(/^\| /, '').replaceAll('`', ''));
}

describe('README metrics table', () => {
  // To regenerate: UPDATE_DOCS=1 npx vitest run test/unit/observability/metrics-doc.test.ts
  it('equals the section rendered from a fresh registry', async () => {
    const rendered = await renderReadmeMetricsSection(documentationMetrics().registry);
    if (process.env['UPDATE_DOCS'] === '1') {
      writeFileSync(README, replaceMarkedRegion(readFileSync(README, 'utf8'), 'metrics', rendered));
    }
    expect(readmeMetricsRegion(), 'the README metrics section drifted from the registry: UPDATE_DOCS=1 npx vitest run test/unit/observability/metrics-doc.test.ts').toBe(rendered);
  });

  it('covers every metric name that /metrics serves, and names no metric it does not serve', async () => {
    const metrics = documentationMetrics();
    const exposition = await metrics.registry.metrics();
    const served = [...exposition.matchAll(/^# HELP (\S+) /gm)].map((match) => match[1] ?? '');
    const documented = tableNames(readmeMetricsRegion().split('\n\n')[0] ?? '');
    for (const name of served) {
      const covered = isDefaultMetric(name)
        ? documented.some((entry) => entry.includes('*') && entry.split(', ').some((glob) => name.startsWith(glob.replace('*', ''))))
        : documented.includes(name);
      expect(covered, `${name} is served but not in the README table`).toBe(true);
    }
    for (const name of documented.filter((entry) => !entry.includes('*'))) expect(served).toContain(name);
  });
});

describe('replaceMarkedRegion', () => {
  it.each([
    { title: 'fills an empty region', text: 'a\n<!-- m:start -->\n<!-- m:end -->\nb', expected: 'a\n<!-- m:start -->\nX\n<!-- m:end -->\nb' },
    { title: 'replaces old content', text: '<!-- m:start -->\nold\nold\n<!-- m:end -->', expected: '<!-- m:start -->\nX\n<!-- m:end -->' },
  ])('$title', ({ text, expected }) => {
    expect(replaceMarkedRegion(text, 'm', 'X')).toBe(expected);
  });

  it.each(['no markers', '<!-- m:end --> <!-- m:start -->', '<!-- m:start -->'])('refuses %j', (text) => {
    expect(() => replaceMarkedRegion(text, 'm', 'X')).toThrow(/markers/);
  });
});

describe('renderMetricsTable', () => {
  it('lists each closed label set in full, in order', async () => {
    const table = await renderMetricsTable(documentationMetrics({ defaultMetrics: false }).registry);
    for (const [name, labels] of Object.entries(LABEL_VALUES)) {
      const row = table.split('\n').find((line) => line.startsWith(`| \`${name}\` |`));
      for (const [label, values] of Object.entries(labels)) {
        expect(row, name).toContain(`\`${label}\`: ${values.map((value) => `\`${value}\``).join(', ')}`);
      }
    }
  });

  it('points from the README to the metrics and logging docs and deploy/prometheus, which exist', async () => {
    const section = await renderReadmeMetricsSection(new Metrics({ defaultMetrics: false }).registry);
    for (const target of ['docs/METRICS.md', 'docs/LOGGING.md', 'deploy/prometheus/']) {
      expect(section).toContain(`](${target})`);
      expect(() => readFileSync(new URL(`../../../${target}${target.endsWith('/') ? 'prometheus.yml' : ''}`, import.meta.url))).not.toThrow();
    }
  });

  it('has no defaults row when the registry has no default metrics, and escapes pipes in help text', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    expect(await renderMetricsTable(metrics.registry)).not.toContain('ftpmasq_process_*');
    const { Gauge } = await import('prom-client');
    new Gauge({ name: 'ftpmasq_test_pipe', help: 'a | b', registers: [metrics.registry] });
    const table = await renderMetricsTable(metrics.registry);
    expect(table).toContain('| `ftpmasq_test_pipe` | gauge |  | a \\| b |');
    for (const row of table.split('\n')) expect(row.split(/(?<!\\)\|/).length, row).toBe(6);
  });

  it('names the histogram buckets', async () => {
    const table = await renderMetricsTable(documentationMetrics({ defaultMetrics: false }).registry);
    expect(table).toContain(
      `| \`ftpmasq_data_connection_setup_seconds\` | histogram | \`site\`: ${OPEN_LABELS[SITE_LABEL] ?? ''}; buckets (\`le\`) 0.0005 to 10 |`,
    );
  });

  it("describes the site label on every metric of a site and on no process-level one", async () => {
    const metrics = documentationMetrics({ defaultMetrics: false });
    const table = await renderMetricsTable(metrics.registry);
    const rows = table.split('\n').slice(2);
    const withSite = rows.filter((row) => row.includes(`\`${SITE_LABEL}\`: ${OPEN_LABELS[SITE_LABEL] ?? ''}`)).map((row) => row.split(' | ')[0]);
    expect(withSite).toEqual([
      '| `ftpmasq_rewrites_total`',
      '| `ftpmasq_sessions_active`',
      '| `ftpmasq_sessions_total`',
      '| `ftpmasq_data_connections_total`',
      '| `ftpmasq_data_bytes_total`',
      '| `ftpmasq_passive_ports_in_use`',
      '| `ftpmasq_passive_ports_capacity`',
      '| `ftpmasq_passive_port_sessions`',
      '| `ftpmasq_refusals_total`',
      '| `ftpmasq_upstream_errors_total`',
      '| `ftpmasq_upstream_unroutable_pasv_total`',
      '| `ftpmasq_data_connection_setup_seconds`',
      '| `ftpmasq_upstream_up`',
      '| `ftpmasq_public_address_lookup_failures_total`',
      '| `ftpmasq_routed_logins_total`',
      '| `ftpmasq_upstream_preconnects_total`',
      '| `ftpmasq_upstream_preconnected`',
      '| `ftpmasq_tls_handshakes_total`',
      '| `ftpmasq_tls_protocols_total`',
    ]);
    expect(table).toContain(`| \`ftpmasq_config_info\` | gauge | \`hash\`: ${OPEN_LABELS['hash'] ?? ''} |`);
    expect(table).not.toContain('0123456789ab');
  });
});

describe('docs/METRICS.md', () => {
  const doc = readFileSync(new URL('../../../docs/METRICS.md', import.meta.url), 'utf8');

  it('has a section for every own metric', async () => {
    const headings = [...doc.matchAll(/^### (.+)$/gm)].map((match) => match[1] ?? '');
    const names = (await documentationMetrics({ defaultMetrics: false }).registry.getMetricsAsJSON()).map((metric) => metric.name);
    for (const name of names) expect(headings.some((heading) => heading.split(', ').includes(name)), name).toBe(true);
  });

  it('names no metric that /metrics does not serve (histogram series suffixes allowed)', async () => {
    const served = new Set((await new Metrics().registry.getMetricsAsJSON()).map((metric) => metric.name));
    const mentioned = new Set(doc.match(/\bftpmasq_[a-z_]*[a-z]\b/g) ?? []);
    expect(mentioned.size).toBeGreaterThan(10);
    for (const name of mentioned) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      expect(served.has(name) || served.has(base), name).toBe(true);
    }
  });

  it('explains every refusal reason and every upstream stage in a table row', () => {
    for (const [label, values] of Object.entries({ ...LABEL_VALUES['ftpmasq_refusals_total'], ...LABEL_VALUES['ftpmasq_upstream_errors_total'] })) {
      for (const value of values) expect(doc, `${label}=${value}`).toContain(`| \`${value}\` |`);
    }
  });

  it('describes each alert of deploy/prometheus/ftpmasq-rules.yml', () => {
    const rules = readFileSync(new URL('../../../deploy/prometheus/ftpmasq-rules.yml', import.meta.url), 'utf8');
    const alerts = [...rules.matchAll(/^\s*- alert: (\w+)$/gm)].map((match) => match[1] ?? '');
    expect(alerts.length).toBeGreaterThan(0);
    for (const alert of alerts) expect(doc).toContain(`| \`${alert}\` |`);
  });
});
