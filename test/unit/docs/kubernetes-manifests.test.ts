/**
 * Every manifest in deploy/kubernetes/, offline (docs/SCALING.md): each object is checked against
 * the Kubernetes object schemas (kubernetes-models, which finds a missing `selector` or a string
 * `replicas` but not a misspelled field), and every field name against the Kubernetes field names
 * these manifests may use (which finds `readinesProbe`). Then what ftpmasq itself needs: the
 * ConfigMaps load, each replica's slice is exactly the ports its data Service forwards, the grace
 * period covers the preStop pause and the drain, the pods run as non-root.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { Deployment, DaemonSet, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configFromDocument, parseConfigText } from '../../../src/config/load-config.js';
import { sliceOfRange } from '../../../src/site/port-slices.js';

const DIR = new URL('../../../deploy/kubernetes/', import.meta.url);
const MANIFESTS = readdirSync(DIR).filter((name) => name.endsWith('.yaml')).sort();

type Json = Record<string, unknown>;

function asRecord(value: unknown): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`not a mapping: ${JSON.stringify(value)}`);
  return Object.fromEntries(Object.entries(value));
}

function asArray(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new Error(`not a list: ${JSON.stringify(value)}`);
  return value;
}

function objectsOf(name: string): Json[] {
  return parseAllDocuments(readFileSync(new URL(name, DIR), 'utf8')).map((document) => {
    expect(document.errors, name).toEqual([]);
    return asRecord(document.toJS());
  });
}

/** The schema check of one object: an error message, or undefined when it is valid. */
function schemaErrorOf(object: Json): string | undefined {
  const models: Readonly<Record<string, () => { validate(): void }>> = {
    'v1/ConfigMap': () => Object.assign(new ConfigMap(), object),
    'v1/Service': () => Object.assign(new Service(), object),
    'apps/v1/StatefulSet': () => Object.assign(new StatefulSet(), object),
    'apps/v1/DaemonSet': () => Object.assign(new DaemonSet(), object),
    'apps/v1/Deployment': () => Object.assign(new Deployment(), object),
    'policy/v1/PodDisruptionBudget': () => Object.assign(new PodDisruptionBudget(), object),
  };
  const kind = `${String(object['apiVersion'])}/${String(object['kind'])}`;
  const model = models[kind];
  if (model === undefined) return `no schema check for ${kind}`;
  try {
    model().validate();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Maps whose keys are the user's (labels, config file names, selectors by label): not field names. */
const FREE_FORM = new Set(['labels', 'annotations', 'data', 'matchLabels', 'nodeSelector']);

/** The Kubernetes field names the manifests may use (core/v1, apps/v1, policy/v1). */
const FIELD_NAMES = new Set([
  'apiVersion', 'kind', 'metadata', 'name', 'namespace', 'spec', ...FREE_FORM,
  // workloads
  'replicas', 'serviceName', 'podManagementPolicy', 'selector', 'template', 'updateStrategy', 'type', 'rollingUpdate',
  'maxUnavailable', 'maxSurge', 'minAvailable', 'partition', 'revisionHistoryLimit', 'minReadySeconds',
  // pod
  'containers', 'volumes', 'hostNetwork', 'dnsPolicy', 'terminationGracePeriodSeconds', 'securityContext',
  'serviceAccountName', 'automountServiceAccountToken', 'affinity', 'tolerations', 'topologySpreadConstraints',
  'runAsNonRoot', 'runAsUser', 'runAsGroup', 'fsGroup', 'seccompProfile', 'allowPrivilegeEscalation', 'readOnlyRootFilesystem',
  'capabilities', 'drop', 'add', 'privileged', 'sysctls',
  // container
  'image', 'imagePullPolicy', 'args', 'command', 'env', 'value', 'valueFrom', 'fieldRef', 'fieldPath', 'lifecycle', 'preStop', 'exec',
  'ports', 'containerPort', 'hostPort', 'protocol', 'readinessProbe', 'livenessProbe', 'startupProbe', 'httpGet', 'path', 'port',
  'periodSeconds', 'initialDelaySeconds', 'timeoutSeconds', 'failureThreshold', 'successThreshold', 'resources', 'requests', 'limits',
  'cpu', 'memory', 'volumeMounts', 'mountPath', 'readOnly', 'configMap',
  // service
  'clusterIP', 'targetPort', 'externalTrafficPolicy', 'loadBalancerIP', 'sessionAffinity', 'publishNotReadyAddresses',
]);

/** Every key path in `value` whose last name is not a known field name. */
function unknownFields(value: unknown, path: string, serviceSpec = false): string[] {
  if (Array.isArray(value)) return value.flatMap((item, index) => unknownFields(item, `${path}[${index}]`));
  if (typeof value !== 'object' || value === null) return [];
  const unknown: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const childPath = path === '' ? key : `${path}.${key}`;
    if (!FIELD_NAMES.has(key)) unknown.push(childPath);
    // A Service's selector is a map of labels; a workload's is a LabelSelector (matchLabels).
    if (FREE_FORM.has(key) || (serviceSpec && key === 'selector')) continue;
    unknown.push(...unknownFields(child, childPath));
  }
  return unknown;
}

function fieldsOf(object: Json): string[] {
  const { spec, ...rest } = object;
  return [...unknownFields(rest, ''), ...unknownFields(spec, 'spec', object['kind'] === 'Service')];
}

function byKind(objects: readonly Json[], kind: string): Json[] {
  return objects.filter((object) => object['kind'] === kind);
}

function podSpecOf(workload: Json): Json {
  return asRecord(asRecord(asRecord(workload['spec'])['template'])['spec']);
}

/** The ftpmasq config in a ConfigMap, as a YAML document. */
function configTextOf(configMap: Json | undefined): string {
  const text = asRecord(configMap?.['data'])['ftpmasq.yaml'];
  if (typeof text !== 'string') throw new Error('the ConfigMap lacks ftpmasq.yaml');
  return text;
}

/** The config as the daemon loads it from the mounted file. */
function loadConfig(text: string) {
  return configFromDocument(parseConfigText(text, 'configmap'), { source: 'configmap' });
}

describe('deploy/kubernetes/*.yaml', () => {
  it('has the two scale-out layouts and the single replica', () => {
    expect(MANIFESTS).toEqual(['daemonset-hostnetwork.yaml', 'ftpmasq.yaml', 'statefulset-slices.yaml']);
  });

  describe.each(MANIFESTS)('%s', (name) => {
    const objects = objectsOf(name);

    it('every object passes the Kubernetes schema check', () => {
      expect(objects.map((object) => ({ kind: object['kind'], error: schemaErrorOf(object) })).filter((result) => result.error !== undefined)).toEqual([]);
    });

    it('names only known Kubernetes fields', () => {
      expect(objects.flatMap((object) => fieldsOf(object).map((path) => `${String(object['kind'])}: ${path}`))).toEqual([]);
    });

    it('runs ftpmasq as non-root, reading a ConfigMap it accepts, with a grace period above the preStop pause and the drain', () => {
      const workloads = objects.filter((object) => ['StatefulSet', 'DaemonSet', 'Deployment'].includes(String(object['kind'])));
      expect(workloads).toHaveLength(1);
      const pod = podSpecOf(workloads[0] ?? {});
      const [container] = asArray(pod['containers']).map(asRecord);
      const podSecurity = pod['securityContext'] === undefined ? {} : asRecord(pod['securityContext']);
      const containerSecurity = asRecord(container?.['securityContext']);
      expect(podSecurity['runAsNonRoot'] ?? containerSecurity['runAsNonRoot']).toBe(true);
      expect(containerSecurity['allowPrivilegeEscalation']).toBe(false);
      const configMap = byKind(objects, 'ConfigMap')[0];
      const configText = configTextOf(configMap).replace(/auto\/(\d+)/, '0/$1');
      const config = loadConfig(configText);
      const pause = Number(asArray(asRecord(asRecord(asRecord(container?.['lifecycle'])['preStop'])['exec'])['command'])[1]);
      expect(Number(pod['terminationGracePeriodSeconds'])).toBeGreaterThan(pause + config.drainTimeoutMs / 1000);
      const volume = asArray(pod['volumes']).map(asRecord).find((candidate) => candidate['name'] === 'config');
      expect(asRecord(volume?.['configMap'])['name']).toBe(asRecord(configMap?.['metadata'])['name']);
      expect(asRecord(container?.['readinessProbe'])['httpGet']).toMatchObject({ path: '/readyz' });
    });

    it("names the image npm run container:build makes: localhost/ftpmasq:<package.json's version>", () => {
      const version = String(asRecord(JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')))['version']);
      const workload = objects.find((object) => ['StatefulSet', 'DaemonSet', 'Deployment'].includes(String(object['kind']))) ?? {};
      const images = asArray(podSpecOf(workload)['containers']).map((container) => asRecord(container)['image']);
      expect(images).toEqual([`localhost/ftpmasq:${version}`]);
    });
  });

  it('the checks fail what they should: a string replicas (schema), a misspelled field (field names)', () => {
    expect(schemaErrorOf({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'x' }, spec: { replicas: '3', serviceName: 'x', selector: {}, template: {} } })).toContain('replicas');
    // And the field-name check what the schemas let through.
    expect(fieldsOf({ apiVersion: 'v1', kind: 'Pod', spec: { containers: [{ name: 'x', readinesProbe: {} }] } })).toEqual(['spec.containers[0].readinesProbe']);
  });

  describe('statefulset-slices.yaml', () => {
    const objects = objectsOf('statefulset-slices.yaml');
    const statefulSet = byKind(objects, 'StatefulSet')[0] ?? {};
    const replicas = Number(asRecord(statefulSet['spec'])['replicas']);
    const configText = configTextOf(byKind(objects, 'ConfigMap')[0]);

    it('slices by the pod ordinal into as many slices as there are replicas', () => {
      expect(configText).toContain(`passivePortSlice: auto/${replicas}`);
      expect(configText).toContain('passivePortSharing: true');
      expect(asRecord(statefulSet['spec'])['serviceName']).toBe('ftpmasq-pods');
    });

    it("each replica's data Service forwards exactly the ports of its slice, to that pod only, on the advertised address", () => {
      const whole = loadConfig(configText.replace(/passivePortSlice: .*\n/, '')).sites[0]?.passivePorts;
      if (whole === undefined) throw new Error('no site');
      for (let index = 0; index < replicas; index++) {
        const config = loadConfig(configText.replace(/auto\//, `${index}/`));
        const site = config.sites[0];
        const slice = sliceOfRange(whole, { index, count: replicas });
        expect(slice.ok && site?.passivePorts).toEqual(slice.ok ? slice.value : undefined);
        const service = byKind(objects, 'Service').find((candidate) => asRecord(candidate['metadata'])['name'] === `ftpmasq-${index}-data`) ?? {};
        const spec = asRecord(service['spec']);
        expect(asRecord(spec['selector'])['statefulset.kubernetes.io/pod-name']).toBe(`ftpmasq-${index}`);
        const ports = asArray(spec['ports']).map((port) => Number(asRecord(port)['port']));
        const low = site?.passivePorts.low ?? 0;
        const high = site?.passivePorts.high ?? 0;
        expect(ports).toEqual(Array.from({ length: high - low + 1 }, (_, offset) => low + offset));
        expect(spec['loadBalancerIP']).toBe(site?.publicAddress);
        expect(spec['externalTrafficPolicy']).toBe('Local');
      }
    });

    it('lets the non-root process bind port 21 by the namespaced sysctl, not by a capability Kubernetes would not pass on', () => {
      const pod = podSpecOf(statefulSet);
      const sysctls = asArray(asRecord(pod['securityContext'])['sysctls']).map(asRecord);
      expect(sysctls).toContainEqual({ name: 'net.ipv4.ip_unprivileged_port_start', value: '21' });
      const [container] = asArray(pod['containers']).map(asRecord);
      expect(asRecord(asRecord(container?.['securityContext'])['capabilities'])).toEqual({ drop: ['ALL'] });
    });

    it('a PodDisruptionBudget lets one replica go at a time', () => {
      expect(asRecord(byKind(objects, 'PodDisruptionBudget')[0]?.['spec'])['maxUnavailable']).toBe(1);
    });
  });

  describe('daemonset-hostnetwork.yaml', () => {
    const objects = objectsOf('daemonset-hostnetwork.yaml');

    it('uses host networking, advertises the address each client came to, and disables EPSV', () => {
      const pod = podSpecOf(byKind(objects, 'DaemonSet')[0] ?? {});
      expect(pod['hostNetwork']).toBe(true);
      const site = loadConfig(configTextOf(byKind(objects, 'ConfigMap')[0])).sites[0];
      expect(site?.publicAddress).toBeUndefined();
      expect(site?.epsv).toBe('disable');
    });
  });
});
