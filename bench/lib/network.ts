/**
 * The benchmark's three network namespaces, the same shape as the end-to-end tier's
 * (test/helpers/topology.ts), from which this is adapted:
 *
 *   client (203.0.113.2) ── br0 [gateway 203.0.113.10 | priv0 10.0.11.1] ── server (10.0.11.251)
 *
 * Its own prefix, `fmqb-<pid>-`, keeps the two apart: the e2e harness removes `fmq-<pid>-`
 * namespaces whose pid does not run its own node binary, which a benchmark started from another
 * checkout (or a fresh-clone test run beside a benchmark) would otherwise take for a crashed run.
 * Here a namespace is stale only when its pid is gone or no longer runs bench/run.js.
 */
import { readFileSync } from 'node:fs';
import { type RunResult, run, runChecked } from '../../test/helpers/topology.js';

export const PUBLIC_ADDRESS = '203.0.113.10';
export const GATEWAY_PRIVATE_ADDRESS = '10.0.11.1';
export const SERVER_ADDRESS = '10.0.11.251';
export const CLIENT_ADDRESS = '203.0.113.2';

const PREFIX = 'fmqb-';

export interface BenchNetwork {
  readonly client: { readonly namespace: string; readonly address: string };
  readonly gateway: string;
  readonly server: string;
  execArgs(namespace: string): readonly string[];
  destroy(): Promise<void>;
}

/** Whether `pid` is a live benchmark run (its command line runs bench/run.js). */
export function isLiveBenchRun(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('bench/run.js');
  } catch {
    return false;
  }
}

async function removeNamespace(ip: string, name: string): Promise<void> {
  // Whatever still runs inside (a ProFTPD session child, a client) is ours: end it by pid.
  const pids: RunResult = await run(ip, ['netns', 'pids', name]);
  for (const pid of pids.stdout.toString('utf8').split(/\s+/).filter((word) => /^\d+$/.test(word))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await run(ip, ['netns', 'del', name]);
}

async function removeStale(ip: string): Promise<void> {
  const list = await runChecked(ip, ['netns', 'list']);
  for (const line of list.stdout.toString('utf8').split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const match = /^fmqb-(\d+)-/.exec(name);
    if (match?.[1] === undefined) continue;
    const owner = Number(match[1]);
    if (owner === process.pid || !isLiveBenchRun(owner)) await removeNamespace(ip, name);
  }
}

export async function createBenchNetwork(ip: string): Promise<BenchNetwork> {
  await removeStale(ip);
  const base = `${PREFIX}${process.pid}`;
  const gateway = `${base}-gw`;
  const server = `${base}-srv`;
  const client = `${base}-c2`;
  const created: string[] = [];
  const cmd = (args: readonly string[]): Promise<RunResult> => runChecked(ip, args);
  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    for (const name of [...created].reverse()) await removeNamespace(ip, name);
  };
  try {
    for (const name of [gateway, server, client]) {
      await cmd(['netns', 'add', name]);
      created.push(name);
      await cmd(['-n', name, 'link', 'set', 'lo', 'up']);
    }
    await cmd(['-n', gateway, 'link', 'add', 'br0', 'type', 'bridge']);
    await cmd(['-n', gateway, 'addr', 'add', `${PUBLIC_ADDRESS}/24`, 'dev', 'br0']);
    await cmd(['-n', gateway, 'link', 'set', 'br0', 'up']);
    await cmd(['-n', gateway, 'link', 'add', 'priv0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', server]);
    await cmd(['-n', gateway, 'addr', 'add', `${GATEWAY_PRIVATE_ADDRESS}/24`, 'dev', 'priv0']);
    await cmd(['-n', gateway, 'link', 'set', 'priv0', 'up']);
    await cmd(['-n', server, 'addr', 'add', `${SERVER_ADDRESS}/24`, 'dev', 'eth0']);
    await cmd(['-n', server, 'link', 'set', 'eth0', 'up']);
    await cmd(['-n', server, 'route', 'add', 'default', 'via', GATEWAY_PRIVATE_ADDRESS]);
    // The client has only its on-link route: 10.0.11.0/24 is unreachable from it, as in the field.
    await cmd(['-n', client, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'c2', 'netns', gateway]);
    await cmd(['-n', gateway, 'link', 'set', 'c2', 'master', 'br0']);
    await cmd(['-n', gateway, 'link', 'set', 'c2', 'up']);
    await cmd(['-n', client, 'addr', 'add', `${CLIENT_ADDRESS}/24`, 'dev', 'eth0']);
    await cmd(['-n', client, 'link', 'set', 'eth0', 'up']);
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    client: { namespace: client, address: CLIENT_ADDRESS },
    gateway,
    server,
    execArgs: (namespace) => ['netns', 'exec', namespace],
    destroy,
  };
}
