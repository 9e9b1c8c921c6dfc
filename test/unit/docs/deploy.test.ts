/** The shipped deployment files carry configurations ftpmasq accepts. */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { rawOptionsFromDocument } from '../../../src/config/config-file.js';
import { OPTION_SPECS } from '../../../src/config/option-specs.js';
import { DEFAULT_TIMEOUTS_MS, buildConfig } from '../../../src/config/schema.js';
import { execForm, parseCopy, parseDockerfile } from '../../helpers/dockerfile.js';

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

describe('deploy/docker/Dockerfile', () => {
  const dockerfile = parseDockerfile(read('deploy/docker/Dockerfile'));
  const [build, runtime] = dockerfile.stages;
  const final = runtime?.instructions ?? [];
  const only = (keyword: string): string => {
    const found = final.filter((instruction) => instruction.keyword === keyword);
    expect(found, keyword).toHaveLength(1);
    return found[0]?.args ?? '';
  };

  it('builds in one stage and runs in another, both from the BASE_IMAGE build argument', () => {
    expect(dockerfile.stages).toHaveLength(2);
    expect(build?.name).toBe('build');
    expect(dockerfile.globalArgs.get('BASE_IMAGE')).toBe('localhost/debian-base:bookworm');
    for (const stage of dockerfile.stages) expect(stage.from).toBe('${BASE_IMAGE}');
    // The runtime stage takes only the checked build output: the Node binary and /app.
    const copies = final.filter((instruction) => instruction.keyword === 'COPY').map((instruction) => parseCopy(instruction.args));
    expect(copies.map((copy) => [copy.fromStage, copy.sources])).toEqual([
      ['build', ['/usr/local/bin/node']],
      ['build', ['/app']],
    ]);
    // What deploy/docker/build-image.sh stages as the build context, and the build's own check.
    const contextCopies = (build?.instructions ?? []).filter((instruction) => instruction.keyword === 'COPY').map((instruction) => parseCopy(instruction.args));
    expect(contextCopies.map((copy) => [copy.sources, copy.destination])).toEqual([
      [['node'], '/usr/local/bin/node'],
      [['app'], '/app'],
    ]);
    const script = read('deploy/docker/build-image.sh');
    expect(script).toContain('cp node_modules/node/bin/node "$context/node"');
    expect(script).toContain('tar -xzf "$tarball" -C "$context/app" --strip-components=1');
    expect(build?.instructions.at(-1)?.args).toMatch(/node \/app\/dist\/cli\.js --version$/);
  });

  it('runs as a numbered user that is not root, set before the entrypoint', () => {
    const user = only('USER');
    expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    const keywords = final.map((instruction) => instruction.keyword);
    expect(keywords.indexOf('USER')).toBeLessThan(keywords.indexOf('ENTRYPOINT'));
  });

  it("checks health on /healthz of the default metrics address, with node (no curl in slim images)", () => {
    const healthcheck = only('HEALTHCHECK');
    const command = execForm(healthcheck.replace(/^(--\S+\s+)*CMD\s+/, ''));
    expect(command?.slice(0, 2)).toEqual(['node', '-e']);
    expect(command?.[2]).toContain('process.env.FTPMASQ_HEALTHZ_URL');
    const defaultMetrics = OPTION_SPECS.find((spec) => spec.key === 'metricsListen')?.defaultValue;
    const env = final.filter((instruction) => instruction.keyword === 'ENV').map((instruction) => instruction.args);
    expect(env).toContain(`FTPMASQ_HEALTHZ_URL=http://${defaultMetrics ?? ''}/healthz`);
    // Within the check's own timeout.
    const timeout = Number(/--timeout=(\d+)s/.exec(healthcheck)?.[1]);
    const fetchTimeout = Number(/AbortSignal\.timeout\((\d+)\)/.exec(command?.[2] ?? '')?.[1]);
    expect(fetchTimeout).toBeLessThan(timeout * 1000);
  });

  it("is the user the Kubernetes manifest runs as", () => {
    const deployment = parseAllDocuments(read('deploy/kubernetes/ftpmasq.yaml'))
      .map((d) => asRecord(d.toJS()))
      .find((d) => d['kind'] === 'Deployment');
    const containers = asRecord(asRecord(asRecord(deployment?.['spec'])['template'])['spec'])['containers'];
    if (!Array.isArray(containers)) throw new Error('no containers');
    const security = asRecord(asRecord(containers[0])['securityContext']);
    expect(`${String(security['runAsUser'])}:${String(security['runAsGroup'])}`).toBe(only('USER'));
    expect(security['runAsNonRoot']).toBe(true);
  });

  it('reads the configuration from a mounted file, the path the systemd unit uses', () => {
    expect(execForm(only('CMD'))).toEqual(['--config', '/etc/ftpmasq/ftpmasq.yaml']);
    expect(execForm(only('ENTRYPOINT'))).toEqual(['node', '/app/dist/cli.js']);
    expect(read('deploy/systemd/ftpmasq.service')).toContain('--config /etc/ftpmasq/ftpmasq.yaml');
  });

  it('listens on 21 as that user through the sysctl the header documents, and says how long a stop must wait', () => {
    const text = read('deploy/docker/Dockerfile');
    expect(text).toContain('--sysctl net.ipv4.ip_unprivileged_port_start=21');
    expect(only('EXPOSE').split(' ')).toContain('21');
  });
});

describe('test/helpers/dockerfile.ts', () => {
  it('joins continuation lines and reads stages, global arguments and COPY', () => {
    const parsed = parseDockerfile('ARG BASE=x\n# c\nFROM ${BASE} AS one\nRUN a \\\n  b\nFROM ${BASE}\nCOPY --from=one /a /b ./\n');
    expect(parsed.globalArgs.get('BASE')).toBe('x');
    expect(parsed.stages.map((stage) => [stage.from, stage.name])).toEqual([['${BASE}', 'one'], ['${BASE}', undefined]]);
    expect(parsed.stages[0]?.instructions).toEqual([{ keyword: 'RUN', args: 'a b' }]);
    expect(parseCopy(parsed.stages[1]?.instructions[0]?.args ?? '')).toEqual({ fromStage: 'one', sources: ['/a', '/b'], destination: './' });
  });
});
