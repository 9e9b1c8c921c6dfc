/** The shipped deployment files carry configurations ftpmasq accepts. */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { rawOptionsFromDocument } from '../../../src/config/config-file.js';
import { buildConfig } from '../../../src/config/schema.js';

function read(path: string): string {
  return readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');
}

function asRecord(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a mapping');
  return Object.fromEntries(Object.entries(value));
}

describe('deploy/', () => {
  it('the Kubernetes ConfigMap holds a valid ftpmasq config with metrics reachable by probes', () => {
    const documents = parseAllDocuments(read('deploy/kubernetes/ftpmasq.yaml')).map((d) => asRecord(d.toJS()));
    const configMap = documents.find((d) => d['kind'] === 'ConfigMap');
    const text = asRecord(configMap?.['data'])['ftpmasq.yaml'];
    if (typeof text !== 'string') throw new Error('ConfigMap lacks ftpmasq.yaml');
    const [inner] = parseAllDocuments(text);
    const config = buildConfig(rawOptionsFromDocument('configmap', inner?.toJS()));
    expect(config.metricsListen).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(read('deploy/kubernetes/ftpmasq.yaml')).toContain('path: /readyz');
  });

  it('the systemd unit and the Docker image start the CLI', () => {
    expect(read('deploy/systemd/ftpmasq.service')).toMatch(/^ExecStart=.*ftpmasq --config \/etc\/ftpmasq\/ftpmasq.yaml$/m);
    expect(read('deploy/docker/Dockerfile')).toMatch(/^ENTRYPOINT \["node", "\/app\/dist\/cli.js"\]$/m);
  });
});
