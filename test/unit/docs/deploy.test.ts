/** The shipped deployment files carry configurations ftpmasq accepts. */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { rawOptionsFromDocument } from '../../../src/config/config-file.js';
import { DEFAULT_TIMEOUTS_MS, buildConfig } from '../../../src/config/schema.js';

/** What a stop may take beyond the drain itself: closing sessions, the HTTP listener, exit. */
const STOP_MARGIN_S = 10;
const DRAIN_S = DEFAULT_TIMEOUTS_MS.drain / 1000;

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

  it('systemd reloads with SIGHUP and waits longer than the default drain timeout before SIGKILL', () => {
    const unit = read('deploy/systemd/ftpmasq.service');
    expect(unit).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    const stopTimeout = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
    expect(stopTimeout).toBeGreaterThanOrEqual(DRAIN_S + STOP_MARGIN_S);
  });

  it('Kubernetes gives the preStop pause and the default drain timeout their time before SIGKILL', () => {
    const manifest = read('deploy/kubernetes/ftpmasq.yaml');
    const deployment = parseAllDocuments(manifest)
      .map((d) => asRecord(d.toJS()))
      .find((d) => d['kind'] === 'Deployment');
    const pod = asRecord(asRecord(asRecord(deployment?.['spec'])['template'])['spec']);
    const grace = pod['terminationGracePeriodSeconds'];
    const containers = pod['containers'];
    if (!Array.isArray(containers)) throw new Error('no containers');
    const preStop = asRecord(asRecord(asRecord(asRecord(containers[0])['lifecycle'])['preStop'])['exec'])['command'];
    expect(preStop).toEqual(['sleep', expect.stringMatching(/^\d+$/)]);
    const pause = Number(Array.isArray(preStop) ? preStop[1] : Number.NaN);
    expect(typeof grace).toBe('number');
    expect(Number(grace)).toBeGreaterThanOrEqual(pause + DRAIN_S + STOP_MARGIN_S);
  });

  it('the Docker image says how long docker stop must wait for a drain', () => {
    const dockerfile = read('deploy/docker/Dockerfile');
    expect(dockerfile).toMatch(/^STOPSIGNAL SIGTERM$/m);
    const stopTimeout = Number(/--stop-timeout (\d+)/.exec(dockerfile)?.[1]);
    expect(stopTimeout).toBeGreaterThanOrEqual(DRAIN_S + STOP_MARGIN_S);
  });
});
