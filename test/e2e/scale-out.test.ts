/**
 * Scale-out without stickiness (docs/SCALING.md, layout 1), in network namespaces: three ftpmasq
 * replicas, each in a namespace of its own, behind the one public address 203.0.113.10, with the
 * gateway doing what kube-proxy does for the StatefulSet's Services, in nftables:
 *
 *   203.0.113.10:21           dnat to numgen inc mod 3 map { 0: replica 0, 1: replica 1, 2: replica 2 }
 *   203.0.113.10:30000-30004  dnat to replica 0   (slice 0 of 30000-30014)
 *   203.0.113.10:30005-30009  dnat to replica 1   (slice 1)
 *   203.0.113.10:30010-30014  dnat to replica 2   (slice 2)
 *
 *   client hosts 203.0.113.2-7 ── br0 gateway ── r0 10.0.20.1 ── replica 0 10.0.20.2 ─┐
 *                                         │   ── r1 10.0.21.1 ── replica 1 10.0.21.2 ─┼─ (via the gateway) ProFTPD 10.0.11.251
 *                                         │   ── r2 10.0.22.1 ── replica 2 10.0.22.2 ─┘
 *
 * Each replica runs `--passive-port-slice k/3 --passive-port-sharing true`. 30 clients at once (six
 * client addresses, legacy curl trusting the 227 and curl with EPSV, downloads and uploads, rate
 * limited so that they overlap) all transfer intact, and each replica names only ports of its own
 * slice: ten overlapping sessions on five ports, which needs passivePortSharing (one client address
 * has at most five sessions, so it never needs two on one port). Then replica 2 is taken out of the round robin and drained (SIGTERM) with a transfer
 * running: that transfer completes intact, replica 2 exits 0, and new clients meanwhile are
 * served by replicas 0 and 1 only. Last, a NodePort-like mapping (public 2121 to a replica's 21,
 * public port P+1000 to its port P) with `--advertised-passive-port-offset 1000`: PASV and EPSV
 * name the mapped ports and the downloads arrive intact. Replica namespaces are `fmqs-<pid>-r<k>`,
 * removed at the end.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FtpClient, createClient, describeRun, pasvPortsOf } from '../helpers/clients.js';
import { type FtpmasqChild, type LogRecord, startFtpmasqWithArgs } from '../helpers/ftpmasq-process.js';
import { JAPANESE_FILE, LARGE_FILE, figuresOf } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS, type RunResult, SERVER_ADDRESS, isLiveRun, removeNamespace, runChecked } from '../helpers/topology.js';
import { requireProgram } from '../helpers/prerequisites.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';

const REPLICAS = 3;
/** Five ports a replica: its ten concurrent sessions fit only because clients of different addresses share ports. */
const RANGE = { low: 30000, high: 30014 };
const SLICES = [
  { low: 30000, high: 30004 },
  { low: 30005, high: 30009 },
  { low: 30010, high: 30014 },
] as const;
const CLIENT_ADDRESSES = ['203.0.113.2', '203.0.113.3', '203.0.113.4', '203.0.113.5', '203.0.113.6', '203.0.113.7'];
const CONCURRENT_CLIENTS = 30;
/** Slow enough that the 30 transfers overlap: 37 KiB at 16 KiB/s, 5 MiB at 2 MiB/s, each about 2.5 s. */
const SMALL_RATE = '16K';
const UPLOAD_RATE = '2M';
/** 64 MiB at 8 MiB/s: about 8 s, long enough to drain in the middle of it. */
const DRAIN_RATE = '8M';
const DRAIN_TIMEOUT_S = 30;
const UNDER_WAY_TIMEOUT_MS = 20_000;
const NAMESPACE_PREFIX = 'fmqs-';

function replicaAddress(index: number): string {
  return `10.0.${20 + index}.2`;
}

function replicaGateway(index: number): string {
  return `10.0.${20 + index}.1`;
}

/** The gateway's nftables table: port 21 round robin over `inRotation`, each slice to its replica. */
function natRules(inRotation: readonly number[]): string {
  const map = inRotation.map((replica, slot) => `${slot} : ${replicaAddress(replica)}`).join(', ');
  const slices = SLICES.map((slice, replica) => `    ip daddr ${PUBLIC_ADDRESS} tcp dport ${slice.low}-${slice.high} dnat to ${replicaAddress(replica)}`);
  // Deleting and re-creating the table in one file is one transaction: no moment without rules.
  return [
    'table ip fmqs {}',
    'delete table ip fmqs',
    'table ip fmqs {',
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    ip daddr ${PUBLIC_ADDRESS} tcp dport 21 dnat to numgen inc mod ${inRotation.length} map { ${map} }`,
    ...slices,
    '  }',
    '}',
    '',
  ].join('\n');
}

let env: E2eEnvironment;
let nft: string;
const replicaNamespaces: string[] = [];
const replicas: FtpmasqChild[] = [];

/** A crashed earlier run's replica namespaces (its pid is dead), and this pid's own from an earlier file. */
async function removeStaleReplicaNamespaces(ip: string): Promise<void> {
  const names = await readdir('/run/netns').catch(() => [] as string[]);
  for (const name of names) {
    const match = /^fmqs-(\d+)-/.exec(name);
    if (match?.[1] === undefined) continue;
    const owner = Number(match[1]);
    if (owner === process.pid || !isLiveRun(owner)) await removeNamespace(ip, name);
  }
}

async function addReplicaNamespace(index: number): Promise<string> {
  const { ip } = env.tools;
  const { gateway } = env.topology;
  const name = `${NAMESPACE_PREFIX}${process.pid}-r${index}`;
  await runChecked(ip, ['netns', 'add', name]);
  replicaNamespaces.push(name);
  await runChecked(ip, ['-n', name, 'link', 'set', 'lo', 'up']);
  await runChecked(ip, ['-n', gateway, 'link', 'add', `r${index}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
  await runChecked(ip, ['-n', gateway, 'addr', 'add', `${replicaGateway(index)}/24`, 'dev', `r${index}`]);
  await runChecked(ip, ['-n', gateway, 'link', 'set', `r${index}`, 'up']);
  await runChecked(ip, ['-n', name, 'addr', 'add', `${replicaAddress(index)}/24`, 'dev', 'eth0']);
  await runChecked(ip, ['-n', name, 'link', 'set', 'eth0', 'up']);
  await runChecked(ip, ['-n', name, 'route', 'add', 'default', 'via', replicaGateway(index)]);
  return name;
}

async function setRotation(inRotation: readonly number[]): Promise<void> {
  await runChecked(env.tools.ip, ['netns', 'exec', env.topology.gateway, nft, '-f', '-'], { stdin: natRules(inRotation) });
}

function startReplica(index: number, namespace: string, extraArgs: readonly string[] = []): Promise<FtpmasqChild> {
  return startFtpmasqWithArgs({
    tools: env.tools,
    // The helper runs ftpmasq in `topology.gateway`: here, in the replica's own namespace.
    topology: { ...env.topology, gateway: namespace },
    args: [
      '--listen', `${replicaAddress(index)}:21`,
      '--upstream', `${SERVER_ADDRESS}:21`,
      '--public-address', PUBLIC_ADDRESS,
      '--passive-ports', `${RANGE.low}-${RANGE.high}`,
      '--passive-port-slice', `${index}/${REPLICAS}`,
      '--passive-port-sharing', 'true',
      '--metrics-listen', 'off',
      '--drain-timeout', `${DRAIN_TIMEOUT_S}s`,
      ...extraArgs,
    ],
  });
}

/** A NodePort-like mapping: public port 2121 to replica 2's 21, public 31010-31014 to its 30010-30014. */
const NODE_PORT_OFFSET = 1000;
const NODE_PORT_CONTROL = 2121;

function nodePortRules(): string {
  const slice = SLICES[2];
  const data = Array.from({ length: slice.high - slice.low + 1 }, (_, index) => slice.low + index).map(
    (port) => `    ip daddr ${PUBLIC_ADDRESS} tcp dport ${port + NODE_PORT_OFFSET} dnat to ${replicaAddress(2)}:${port}`,
  );
  return [
    'table ip fmqs_nodeport {',
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    `    ip daddr ${PUBLIC_ADDRESS} tcp dport ${NODE_PORT_CONTROL} dnat to ${replicaAddress(2)}:21`,
    ...data,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The ports each replica bound for its passive replies since record `from`. */
function boundPorts(replica: FtpmasqChild, from = 0): number[] {
  return replica.logRecords
    .slice(from)
    .filter((record: LogRecord) => record['msg'] === 'passive reply relayed')
    .map((record) => Number(record['boundPort']));
}

function client(kind: 'curl-legacy' | 'curl-epsv', index: number, limitRate?: string, port = 21): FtpClient {
  const host = env.topology.clients[index % env.topology.clients.length];
  if (host === undefined) throw new Error('no client host');
  return createClient(kind, {
    tools: env.tools,
    topology: env.topology,
    host,
    endpoint: { address: PUBLIC_ADDRESS, port },
    ...(limitRate === undefined ? {} : { limitRate }),
  });
}

function inSlice(port: number, slice: { low: number; high: number }): boolean {
  return port >= slice.low && port <= slice.high;
}

function expectRan(result: RunResult): void {
  expect(result.code, describeRun(result)).toBe(0);
}

beforeAll(async () => {
  env = await setUpEnvironment();
  nft = requireProgram('nft', 'nftables');
  await removeStaleReplicaNamespaces(env.tools.ip);
  for (const address of CLIENT_ADDRESSES.slice(1)) await env.topology.addClientHost(address);
  const namespaces: string[] = [];
  for (let index = 0; index < REPLICAS; index++) namespaces.push(await addReplicaNamespace(index));
  await runChecked(env.tools.ip, ['netns', 'exec', env.topology.gateway, '/bin/sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
  await setRotation([0, 1, 2]);
  for (const [index, namespace] of namespaces.entries()) replicas.push(await startReplica(index, namespace));
});

afterAll(async () => {
  await Promise.all(replicas.map((replica) => replica.stop()));
  for (const name of replicaNamespaces.splice(0)) await removeNamespace(env.tools.ip, name);
  await env.teardown();
});

describe('three replicas behind one address, slices of the passive range, no stickiness', () => {
  it('serves 30 concurrent clients from six addresses, every transfer intact, each replica only on its own slice', async () => {
    const small = env.proftpd.fixtures.get(JAPANESE_FILE);
    if (small === undefined) throw new Error('no fixture');
    const jobs = Array.from({ length: CONCURRENT_CLIENTS }, async (_, index) => {
      const kind = index % 2 === 0 ? 'curl-legacy' : 'curl-epsv';
      if (index % 3 === 2) {
        const name = `scale-upload-${index}.bin`;
        const result = await client(kind, index, UPLOAD_RATE).upload(env.upload.path, name);
        expectRan(result);
        expect((await figuresOf(join(env.proftpd.root, name), name)).sha256).toBe(env.upload.sha256);
        return result;
      }
      const localPath = join(env.clientDir, `scale-download-${index}.bin`);
      const result = await client(kind, index, SMALL_RATE).download(JAPANESE_FILE, localPath);
      expectRan(result);
      expect((await figuresOf(localPath, JAPANESE_FILE)).sha256).toBe(small.sha256);
      return result;
    });
    const results = await Promise.all(jobs);
    // Every 227 the clients saw names a port of the whole range.
    for (const port of results.flatMap((result) => pasvPortsOf(result.stderr))) expect(inSlice(port, RANGE)).toBe(true);
    // Round robin spread the control connections; each replica advertised only its own slice.
    const perReplica = replicas.map((replica) => boundPorts(replica));
    expect(perReplica.reduce((sum, ports) => sum + ports.length, 0)).toBe(CONCURRENT_CLIENTS);
    perReplica.forEach((ports, index) => {
      // numgen inc is an exact round robin: ten sessions a replica, more than its five ports.
      expect(ports.length).toBe(CONCURRENT_CLIENTS / REPLICAS);
      for (const port of ports) expect(inSlice(port, SLICES[index] ?? RANGE), `replica ${index} port ${port}`).toBe(true);
    });
  });

  it('drains a replica taken out of the round robin: its running transfer completes, the others keep serving', async () => {
    const large = env.proftpd.fixtures.get(LARGE_FILE);
    const small = env.proftpd.fixtures.get(JAPANESE_FILE);
    if (large === undefined || small === undefined) throw new Error('no fixture');
    const drained = replicas[2];
    if (drained === undefined) throw new Error('no replica 2');
    const from = replicas.map((replica) => replica.logRecords.length);
    // Three slow downloads, one after the other: the round robin gives one to each replica.
    const slow: Promise<RunResult>[] = [];
    for (let index = 0; index < REPLICAS; index++) {
      slow.push(client('curl-legacy', index, DRAIN_RATE).download(LARGE_FILE, join(env.clientDir, `scale-slow-${index}.bin`)));
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const underWay = await drained.waitForLog((record) => record['msg'] === 'passive reply relayed', UNDER_WAY_TIMEOUT_MS, from[2]);
    expect(underWay, 'replica 2 got none of the slow downloads').toBeDefined();

    // What Kubernetes does: the endpoint leaves the Service first, then the pod gets SIGTERM.
    await setRotation([0, 1]);
    drained.signal('SIGTERM');
    const newcomers = await Promise.all(
      Array.from({ length: 9 }, (_, index) => client('curl-legacy', index).download(JAPANESE_FILE, join(env.clientDir, `scale-late-${index}.bin`))),
    );
    for (const [index, result] of newcomers.entries()) {
      expectRan(result);
      expect((await figuresOf(join(env.clientDir, `scale-late-${index}.bin`), JAPANESE_FILE)).sha256).toBe(small.sha256);
      for (const port of pasvPortsOf(result.stderr)) expect(inSlice(port, SLICES[2]), `newcomer ${index} sent to the drained replica`).toBe(false);
    }
    const slowResults = await Promise.all(slow);
    for (const [index, result] of slowResults.entries()) {
      expectRan(result);
      expect((await figuresOf(join(env.clientDir, `scale-slow-${index}.bin`), LARGE_FILE)).sha256).toBe(large.sha256);
    }
    const exit = await drained.waitForExit((DRAIN_TIMEOUT_S + 10) * 1000);
    expect(exit?.code).toBe(0);
    // The replicas left in the round robin served every newcomer.
    expect(boundPorts(replicas[0] ?? drained, from[0]).length + boundPorts(replicas[1] ?? drained, from[1]).length).toBeGreaterThanOrEqual(9);
  });

  it('behind a NodePort-like mapping, advertises the mapped ports (advertisedPassivePortOffset) and transfers intact', async () => {
    const small = env.proftpd.fixtures.get(JAPANESE_FILE);
    const namespace = replicaNamespaces[2];
    if (small === undefined || namespace === undefined) throw new Error('no fixture or namespace');
    // Replica 2 was drained and has exited: a new one in its namespace, its slice advertised 1000 higher.
    const mapped = await startReplica(2, namespace, ['--advertised-passive-port-offset', String(NODE_PORT_OFFSET)]);
    replicas.push(mapped);
    await runChecked(env.tools.ip, ['netns', 'exec', env.topology.gateway, nft, '-f', '-'], { stdin: nodePortRules() });
    const results = await Promise.all(
      (['curl-legacy', 'curl-epsv'] as const).map((kind, index) =>
        client(kind, index, undefined, NODE_PORT_CONTROL).download(JAPANESE_FILE, join(env.clientDir, `scale-nodeport-${kind}.bin`)),
      ),
    );
    for (const result of results) expectRan(result);
    for (const kind of ['curl-legacy', 'curl-epsv']) {
      expect((await figuresOf(join(env.clientDir, `scale-nodeport-${kind}.bin`), JAPANESE_FILE)).sha256).toBe(small.sha256);
    }
    const advertised = [...pasvPortsOf(results[0]?.stderr ?? ''), ...[...(results[1]?.stderr ?? '').matchAll(/229 Entering Extended Passive Mode \(\|\|\|(\d+)\|\)/g)].map((match) => Number(match[1]))];
    expect(advertised).toHaveLength(2);
    for (const port of advertised) expect(inSlice(port - NODE_PORT_OFFSET, SLICES[2]), `advertised ${port}`).toBe(true);
    for (const port of boundPorts(mapped)) expect(inSlice(port, SLICES[2])).toBe(true);
  });
});
