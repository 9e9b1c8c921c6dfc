/**
 * deploy/docker/compose.yaml, checked offline (no compose tool runs here): the field scenario's
 * four services, their images and published ports, every mounted file present in the clone,
 * ftpmasq's mounted config accepted by ftpmasq and consistent with the ports compose publishes,
 * Prometheus scraping the ftpmasq service, Grafana provisioned with the dashboard.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configFromDocument, parseConfigText } from '../../../src/config/load-config.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COMPOSE_PATH = join(ROOT, 'deploy', 'docker', 'compose.yaml');
const COMPOSE_DIR = dirname(COMPOSE_PATH);

function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`${what} is not a mapping`);
  return Object.fromEntries(Object.entries(value));
}

function asStrings(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || !value.every((item): item is string => typeof item === 'string')) throw new Error(`${what} is not a list of strings`);
  return value;
}

const compose = asRecord(parse(readFileSync(COMPOSE_PATH, 'utf8')), 'compose.yaml');
const services = asRecord(compose['services'], 'services');
const service = (name: string): Record<string, unknown> => asRecord(services[name], `services.${name}`);
/** host path (resolved against compose.yaml's folder) -> container path, for each volume of a service. */
const mounts = (name: string): Map<string, string> =>
  new Map(
    asStrings(service(name)['volumes'] ?? [], `services.${name}.volumes`).map((volume) => {
      const [host = '', container = '', mode] = volume.split(':');
      expect(mode, volume).toBe('ro');
      return [join(COMPOSE_DIR, host), container];
    }),
  );
const mountedAt = (name: string, containerPath: string): string => {
  const found = [...mounts(name)].find(([, target]) => target === containerPath);
  if (found === undefined) throw new Error(`${name} mounts nothing at ${containerPath}`);
  return found[0];
};

describe('deploy/docker/compose.yaml', () => {
  it('runs the field scenario: the legacy server, ftpmasq, Prometheus and Grafana', () => {
    expect(Object.keys(services).sort()).toEqual(['ftpmasq', 'grafana', 'prometheus', 'upstream']);
    const manifest = asRecord(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')), 'package.json');
    expect(service('ftpmasq')['image']).toBe(`localhost/ftpmasq:${String(manifest['version'])}`);
    expect(service('prometheus')['image']).toMatch(/^docker\.io\/prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(service('grafana')['image']).toMatch(/^docker\.io\/grafana\/grafana-oss:\d+\.\d+\.\d+$/);
    const build = asRecord(service('upstream')['build'], 'upstream.build');
    expect(existsSync(join(COMPOSE_DIR, String(build['context']), 'Dockerfile'))).toBe(true);
    expect(readFileSync(join(COMPOSE_DIR, String(build['context']), 'proftpd.conf'), 'utf8')).not.toMatch(/^\s*MasqueradeAddress/m);
  });

  it('mounts only files that exist in the clone', () => {
    for (const name of Object.keys(services)) {
      for (const host of mounts(name).keys()) expect(existsSync(host), `${name}: ${host}`).toBe(true);
    }
  });

  it('keeps the legacy server on an internal network that only ftpmasq shares', () => {
    const networks = asRecord(compose['networks'], 'networks');
    const backend = asRecord(networks['backend'], 'networks.backend');
    expect(backend['internal']).toBe(true);
    const upstreamNetworks = asRecord(service('upstream')['networks'], 'upstream.networks');
    expect(Object.keys(upstreamNetworks)).toEqual(['backend']);
    for (const name of ['prometheus', 'grafana']) expect(asStrings(service(name)['networks'], name)).not.toContain('backend');
    expect(asStrings(service('ftpmasq')['networks'], 'ftpmasq.networks').sort()).toEqual(['backend', 'frontend']);
  });

  it("gives ftpmasq a config it accepts, whose upstream, listener and passive range match what compose sets up", () => {
    const configPath = mountedAt('ftpmasq', '/etc/ftpmasq/ftpmasq.yaml');
    const config = configFromDocument(parseConfigText(readFileSync(configPath, 'utf8'), configPath), { source: configPath });
    const [site] = config.sites;
    const upstreamAddress = asRecord(asRecord(service('upstream')['networks'], 'upstream.networks')['backend'], 'backend')['ipv4_address'];
    expect(site?.upstream).toEqual({ host: String(upstreamAddress), port: 21 });
    expect(site?.listen).toEqual([{ host: '0.0.0.0', port: 21 }]);
    const range = `${site?.passivePorts.low ?? 0}-${site?.passivePorts.high ?? 0}`;
    // Published one to one, so that the port in a 227 is the port a client dials.
    expect(asStrings(service('ftpmasq')['ports'], 'ftpmasq.ports').sort()).toEqual([`${range}:${range}`, '21:21'].sort());
    expect(config.metricsListen).toEqual({ host: '0.0.0.0', port: 9464 });
    // Port 21 as user 10001.
    expect(asRecord(service('ftpmasq')['sysctls'], 'sysctls')['net.ipv4.ip_unprivileged_port_start']).toBe(21);
    const grace = /^(\d+)s$/.exec(String(service('ftpmasq')['stop_grace_period']));
    expect(Number(grace?.[1]) * 1000).toBeGreaterThan(config.drainTimeoutMs);
  });

  it('publishes Prometheus and Grafana on loopback only', () => {
    for (const name of ['prometheus', 'grafana']) {
      for (const port of asStrings(service(name)['ports'], `${name}.ports`)) expect(port, name).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it('has Prometheus scrape the ftpmasq service with the shipped rules, and Grafana load the dashboard', () => {
    const prometheusPath = mountedAt('prometheus', '/etc/prometheus/prometheus.yml');
    const prometheus = asRecord(parse(readFileSync(prometheusPath, 'utf8')), 'prometheus.yml');
    const [job] = Array.isArray(prometheus['scrape_configs']) ? prometheus['scrape_configs'] : [];
    const [staticConfig] = (() => {
      const configs = asRecord(job, 'scrape_configs[0]')['static_configs'];
      return Array.isArray(configs) ? configs : [];
    })();
    expect(asStrings(asRecord(staticConfig, 'static_configs[0]')['targets'], 'targets')).toEqual(['ftpmasq:9464']);
    const rules = asStrings(prometheus['rule_files'], 'rule_files');
    for (const rule of rules) expect(mountedAt('prometheus', `/etc/prometheus/${rule}`)).toBe(join(ROOT, 'deploy', 'prometheus', rule));

    const dashboard = mountedAt('grafana', '/var/lib/grafana/dashboards/ftpmasq.json');
    expect(dashboard).toBe(join(ROOT, 'deploy', 'grafana', 'ftpmasq.json'));
    const providers = asRecord(parse(readFileSync(mountedAt('grafana', '/etc/grafana/provisioning/dashboards/ftpmasq.yaml'), 'utf8')), 'dashboards');
    const [provider] = Array.isArray(providers['providers']) ? providers['providers'] : [];
    expect(asRecord(asRecord(provider, 'provider')['options'], 'options')['path']).toBe('/var/lib/grafana/dashboards');
    const sources = asRecord(parse(readFileSync(mountedAt('grafana', '/etc/grafana/provisioning/datasources/ftpmasq.yaml'), 'utf8')), 'datasources');
    const [source] = Array.isArray(sources['datasources']) ? sources['datasources'] : [];
    expect(asRecord(source, 'datasource')).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
  });
});
