/**
 * deploy/grafana/ftpmasq.json: every query parses as PromQL (promtool, from Debian's prometheus
 * package), names only metrics a fresh registry serves (a histogram's _bucket, _sum and _count
 * included), matches only label values of the closed sets, and filters every metric of a site by
 * the `site` template variable. A renamed metric or label value fails here instead of leaving an
 * empty panel. Grafana itself is not run: what it does with the panel options is not checked.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { LABEL_VALUES, Metrics, SITE_LABEL } from '../../src/observability/metrics.js';
import { requireProgram } from '../helpers/prerequisites.js';
import { run } from '../helpers/topology.js';

const DASHBOARD_TEXT = readFileSync(new URL('../../deploy/grafana/ftpmasq.json', import.meta.url), 'utf8');
const SITE_VARIABLE_QUERY = 'label_values(ftpmasq_sessions_active, site)';
const SITE_MATCHER = 'site=~"$site"';
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;
/** Grafana's variables, replaced by literals so that promtool sees plain PromQL. */
const SUBSTITUTIONS: readonly (readonly [string, string])[] = [
  ['$__rate_interval', '1m'],
  ['$__interval', '1m'],
  ['$__range', '6h'],
  ['$site', 'default'],
];
/** What the dashboard must show: the metrics an operator of ftpmasq looks at first. */
const REQUIRED_METRICS = [
  'ftpmasq_sessions_active',
  'ftpmasq_sessions_total',
  'ftpmasq_rewrites_total',
  'ftpmasq_data_bytes_total',
  'ftpmasq_refusals_total',
  'ftpmasq_passive_ports_in_use',
  'ftpmasq_passive_ports_capacity',
  'ftpmasq_upstream_errors_total',
  'ftpmasq_upstream_up',
  'ftpmasq_config_reloads_total',
  'ftpmasq_draining',
  'ftpmasq_build_info',
];

const datasourceSchema = z.object({ type: z.literal(DATASOURCE.type), uid: z.literal(DATASOURCE.uid) });
const targetSchema = z.looseObject({
  refId: z.string().regex(/^[A-Z]$/),
  expr: z.string().min(1),
  legendFormat: z.string(),
  datasource: datasourceSchema,
});
const gridPosSchema = z.object({
  h: z.number().int().positive(),
  w: z.number().int().min(1).max(24),
  x: z.number().int().min(0).max(23),
  y: z.number().int().min(0),
});
const panelSchema = z.looseObject({
  id: z.number().int().positive(),
  type: z.string(),
  title: z.string().min(1),
  gridPos: gridPosSchema,
  description: z.string().optional(),
  datasource: datasourceSchema.optional(),
  targets: z.array(targetSchema).optional(),
});
const variableSchema = z.looseObject({
  name: z.string(),
  type: z.string(),
  query: z.union([z.string(), z.looseObject({ query: z.string() })]),
  definition: z.string().optional(),
  datasource: datasourceSchema.optional(),
  multi: z.boolean().optional(),
  includeAll: z.boolean().optional(),
  allValue: z.string().optional(),
});
const dashboardSchema = z.looseObject({
  title: z.string(),
  uid: z.string(),
  schemaVersion: z.number().int(),
  templating: z.object({ list: z.array(variableSchema) }),
  panels: z.array(panelSchema),
});

type Panel = z.infer<typeof panelSchema>;

interface Query {
  readonly where: string;
  readonly expr: string;
}

const dashboard = dashboardSchema.parse(JSON.parse(DASHBOARD_TEXT));
const queryPanels = dashboard.panels.filter((panel) => panel.type !== 'row');
const queries: Query[] = queryPanels.flatMap((panel) =>
  (panel.targets ?? []).map((target) => ({ where: `panel ${panel.id} "${panel.title}" ${target.refId}`, expr: target.expr })),
);

/** The expression with Grafana's variables replaced by literals; an unknown variable is an error. */
function substituteVariables(expr: string): string {
  let result = expr;
  for (const [variable, literal] of SUBSTITUTIONS) result = result.replaceAll(variable, literal);
  if (result.includes('$')) throw new Error(`unknown Grafana variable left in ${result}`);
  return result;
}

/** Each `ftpmasq_*` metric named in an expression, with the `{...}` that follows it ('' when none). */
function selectors(expr: string): { metric: string; matchers: string }[] {
  return [...expr.matchAll(/\b(ftpmasq_[a-z0-9_]*[a-z0-9])\b(\{[^}]*\})?/g)].map((match) => ({
    metric: match[1] ?? '',
    matchers: match[2] ?? '',
  }));
}

/** Every series name a fresh registry serves, and the metrics (by series name) that carry `site`. */
async function servedNames(): Promise<{ served: Set<string>; bySite: Set<string> }> {
  const metrics = new Metrics();
  metrics.forSite('probe');
  const served = new Set<string>();
  const bySite = new Set<string>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    const names = String(metric.type) === 'histogram' ? ['_bucket', '_sum', '_count'].map((suffix) => `${metric.name}${suffix}`) : [metric.name];
    const hasSite = metric.values.some((value) => value.labels[SITE_LABEL] !== undefined);
    for (const name of names) {
      served.add(name);
      if (hasSite) bySite.add(name);
    }
  }
  return { served, bySite };
}

/** A rules file with one recording rule per query, in JSON (which YAML reads as it is). */
function rulesFile(items: readonly Query[]): string {
  return JSON.stringify({
    groups: [
      {
        name: 'ftpmasq-grafana-dashboard',
        rules: items.map((item, index) => ({ record: `ftpmasq_dashboard:query_${index}`, expr: substituteVariables(item.expr) })),
      },
    ],
  });
}

describe('deploy/grafana/ftpmasq.json: structure', () => {
  it('has panels with unique ids, each query panel described and fed by at least one query', () => {
    expect(queryPanels.length).toBeGreaterThanOrEqual(15);
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of queryPanels) {
      expect(panel.targets?.length ?? 0, panel.title).toBeGreaterThan(0);
      expect(panel.description?.length ?? 0, panel.title).toBeGreaterThan(10);
      expect(panel.datasource, panel.title).toEqual(DATASOURCE);
    }
  });

  it('lays panels out inside 24 columns without overlaps', () => {
    const cells = new Map<string, Panel>();
    for (const panel of dashboard.panels) {
      const { h, w, x, y } = panel.gridPos;
      expect(x + w, panel.title).toBeLessThanOrEqual(24);
      for (let row = y; row < y + h; row += 1) {
        for (let column = x; column < x + w; column += 1) {
          const other = cells.get(`${row}:${column}`);
          expect(other?.title, `${panel.title} overlaps`).toBeUndefined();
          cells.set(`${row}:${column}`, panel);
        }
      }
    }
  });

  it('picks the Prometheus data source and the sites by template variables', () => {
    const [datasource, site] = dashboard.templating.list;
    expect(datasource).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
    expect(site).toMatchObject({ name: 'site', type: 'query', datasource: DATASOURCE, definition: SITE_VARIABLE_QUERY, multi: true, includeAll: true, allValue: '.*' });
    const query = site?.query;
    expect(typeof query === 'string' ? query : query?.query).toBe(SITE_VARIABLE_QUERY);
  });
});

describe('deploy/grafana/ftpmasq.json: queries', () => {
  let served = new Set<string>();
  let bySite = new Set<string>();
  beforeAll(async () => {
    ({ served, bySite } = await servedNames());
  });

  it('name only metrics that a fresh registry serves', () => {
    const named = new Set(queries.flatMap((query) => selectors(query.expr).map((selector) => selector.metric)));
    expect(named.size).toBeGreaterThanOrEqual(REQUIRED_METRICS.length);
    for (const name of named) expect(served, name).toContain(name);
    // The variable's query too.
    expect(served).toContain(/label_values\((\w+), site\)/.exec(SITE_VARIABLE_QUERY)?.[1]);
  });

  it('show every metric an operator looks at first', () => {
    const named = new Set(queries.flatMap((query) => selectors(query.expr).map((selector) => selector.metric)));
    for (const name of REQUIRED_METRICS) expect(named, name).toContain(name);
  });

  it("filter every metric of a site by the site variable, and no process metric (it has no site label)", () => {
    let filtered = 0;
    for (const query of queries) {
      for (const { metric, matchers } of selectors(query.expr)) {
        if (bySite.has(metric)) {
          expect(matchers, `${query.where}: ${metric}`).toContain(SITE_MATCHER);
          filtered += 1;
        } else {
          expect(matchers, `${query.where}: ${metric}`).not.toContain('site');
        }
      }
    }
    expect(filtered).toBeGreaterThanOrEqual(15);
  });

  it('match only label values of the closed sets', () => {
    const allowed = new Map<string, Set<string>>();
    for (const labels of Object.values(LABEL_VALUES)) {
      for (const [label, values] of Object.entries(labels)) allowed.set(label, new Set(values));
    }
    for (const query of queries) {
      for (const match of query.expr.matchAll(/\b(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
        const [, label = '', , value = ''] = match;
        const values = allowed.get(label);
        if (values === undefined) continue;
        for (const alternative of value.split('|')) expect(values, `${label}="${alternative}" in ${query.where}`).toContain(alternative);
      }
    }
  });
});

describe('deploy/grafana/ftpmasq.json: promtool parses every query', () => {
  let promtool = '';
  let scratch = '';
  beforeAll(async () => {
    promtool = requireProgram('promtool', 'prometheus');
    scratch = await mkdtemp(join(tmpdir(), 'fmq-grafana-'));
  });
  afterAll(async () => {
    if (scratch !== '') await rm(scratch, { recursive: true, force: true });
  });

  async function checkRules(name: string, items: readonly Query[]): Promise<{ code: number | null; output: string }> {
    const path = join(scratch, `${name}.yml`);
    await writeFile(path, rulesFile(items));
    const result = await run(promtool, ['check', 'rules', path], { timeoutMs: 30_000 });
    return { code: result.code, output: `${result.stdout.toString('utf8')}${result.stderr}` };
  }

  it('with the variables replaced by literals: promtool check rules', async () => {
    const result = await checkRules('dashboard', queries);
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain(`SUCCESS: ${queries.length} rules found`);
  });

  it('catches a query that does not parse, naming it', async () => {
    const result = await checkRules('broken', [...queries.slice(0, 2), { where: 'broken', expr: 'sum by (site (ftpmasq_sessions_active)' }]);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('ftpmasq_dashboard:query_2');
  });

  it('refuses a Grafana variable it does not know, rather than passing it to promtool', () => {
    expect(() => substituteVariables('rate(ftpmasq_sessions_total[$__unknown])')).toThrow(/unknown Grafana variable/);
  });
});
