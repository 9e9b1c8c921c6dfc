/**
 * The end-to-end network: a public LAN of client hosts, a gateway, and a private server, each in a
 * network namespace that this test run creates and destroys.
 *
 *   client hosts (203.0.113.2, .3, ...)   gateway (br0 203.0.113.10 | priv0 10.0.11.1)   server (10.0.11.251)
 *      eth0 ── veth ──────────────────────── c2/c3 ports of br0
 *                                            priv0 ── veth ────────────────────────────────── eth0
 *
 * The client hosts have only their on-link route to 203.0.113.0/24: dialling 10.0.11.251 fails at once
 * with ENETUNREACH, as a client on the Internet fails to reach a server's private address. The public side
 * is a bridge in the gateway namespace so that more client hosts can join (a bounce check needs a second
 * one). Interfaces are created inside the namespaces (`ip -n`), so nothing is ever added to the host's
 * own network; the only addresses any test dials are inside these namespaces.
 *
 * Namespace names are `fmq-<pid>-<role>`. A run removes the namespaces of dead pids (a crashed earlier run)
 * and of its own pid (an earlier test file in the same worker) before it builds its own, and leaves a
 * concurrent run's alone.
 */
import { spawn } from 'node:child_process';
import { readlinkSync } from 'node:fs';

export const PUBLIC_ADDRESS = '203.0.113.10';
export const PUBLIC_PREFIX_LENGTH = 24;
export const GATEWAY_PRIVATE_ADDRESS = '10.0.11.1';
export const SERVER_ADDRESS = '10.0.11.251';
export const PRIVATE_PREFIX_LENGTH = 24;
export const FIRST_CLIENT_ADDRESS = '203.0.113.2';
/** The public LAN's IPv6 prefix (RFC 3849 documentation space), given by {@link Topology.enableIpv6}. */
export const PUBLIC_PREFIX6 = '2001:db8:113::';
export const PUBLIC_PREFIX6_LENGTH = 64;
/** The gateway's IPv6 address on the public LAN (br0), where ftpmasq listens for IPv6 clients. */
export const PUBLIC_ADDRESS6 = `${PUBLIC_PREFIX6}10`;
/** The server's passive range (ProFTPD `PassivePorts`) that the gateway's NAT forwards. */
export const SERVER_PASSIVE_PORTS = { first: 60000, last: 61000 } as const;

const NAMESPACE_PREFIX = 'fmq-';
const COMMAND_TIMEOUT_MS = 15_000;

export interface RunResult {
  readonly command: string;
  /** Exit code, or null when a signal (or our timeout) ended the process. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
  readonly durationMs: number;
  readonly timedOut: boolean;
}

export interface RunOptions {
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly stdin?: Buffer | string;
}

/** Runs a program to its end, bounded in time; never throws for a non-zero exit. */
export function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? COMMAND_TIMEOUT_MS;
  const command = [file, ...args].join(' ');
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: options.env ?? process.env,
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
    if (options.stdin !== undefined && child.stdin !== null) child.stdin.end(options.stdin);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        command,
        code,
        signal,
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat(stderr).toString('utf8'),
        durationMs: Math.round(performance.now() - started),
        timedOut,
      });
    });
  });
}

/** Like {@link run}, but a non-zero exit is an error that quotes the command and its stderr. */
export async function runChecked(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const result = await run(file, args, options);
  if (result.code !== 0) {
    const why = result.timedOut ? `timed out after ${options.timeoutMs ?? COMMAND_TIMEOUT_MS} ms` : `exited ${result.code ?? result.signal}`;
    throw new Error(`${result.command} ${why}: ${result.stderr.trim()}`);
  }
  return result;
}

export interface ClientHost {
  readonly namespace: string;
  readonly address: string;
  /**
   * Its IPv6 address once {@link Topology.enableIpv6} ran (2001:db8:113::x for 203.0.113.x), else
   * undefined.
   */
  readonly address6?: string | undefined;
}

type MutableClientHost = { -readonly [K in keyof ClientHost]: ClientHost[K] };

/** 203.0.113.x -> 2001:db8:113::x: the IPv6 address a client host gets, easy to tell apart in a trace. */
export function clientAddress6(address: string): string {
  return `${PUBLIC_PREFIX6}${address.split('.').at(-1) ?? ''}`;
}

export type NatMode =
  /** No DNAT; forwarding off: the gateway is only a host on both networks (ftpmasq relay mode). */
  | 'off'
  /** The plain 1:1 NAT that the legacy setup has: control port 21 and the passive range to the server. */
  | 'one-to-one'
  /**
   * Only the passive range to the server, as an elastic IP in front of the server forwards it, while
   * ftpmasq (rewrite mode) owns port 21. Destination NAT only: the server sees the data connections come
   * from the client's own address while the control connection comes from ftpmasq (10.0.11.1), which
   * ProFTPD 1.3.8 accepts with its defaults.
   */
  | 'passive-only'
  /**
   * No NAT rule of the test's, forwarding on: ftpmasq --mode kernel installs its own nftables
   * forwarding per transfer (issue 14), and nothing else reaches the server.
   */
  | 'forwarding';

export interface Topology {
  readonly gateway: string;
  readonly server: string;
  /** The client hosts on the public LAN, the first one 203.0.113.2. */
  readonly clients: readonly ClientHost[];
  readonly client: ClientHost;
  /** Adds a host to the public LAN (e.g. 203.0.113.3 for a bounce check); IPv6 too once enabled. */
  addClientHost(address: string): Promise<ClientHost>;
  /**
   * Makes the public LAN dual-stack: the gateway's br0 gets 2001:db8:113::10/64 and every client host,
   * present and future, 2001:db8:113::x/64. The private side and the server stay IPv4-only, as a legacy
   * server is. Addresses are added `nodad`, so they are usable at once (no tentative phase). Idempotent.
   */
  enableIpv6(): Promise<void>;
  setNat(mode: NatMode): Promise<void>;
  /**
   * How many connections the gateway's DNAT has forwarded to the server's passive range since the last
   * setNat (a nat-table rule sees only the first packet of each connection).
   */
  countNattedPassiveConnections(): Promise<number>;
  /** `ip netns exec <namespace> file args...` */
  exec(namespace: string, file: string, args: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** The argv prefix that runs a program inside a namespace. */
  execArgs(namespace: string): readonly string[];
  /** Kills whatever still runs inside the namespaces, then deletes them. Idempotent. */
  destroy(): Promise<void>;
}

export interface TopologyTools {
  readonly ip: string;
  readonly iptables: string;
}

export async function createTopology(tools: TopologyTools): Promise<Topology> {
  await removeStaleNamespaces(tools.ip);
  const base = `${NAMESPACE_PREFIX}${process.pid}`;
  const gateway = `${base}-gw`;
  const server = `${base}-srv`;
  const created: string[] = [];
  // Mutable here (enableIpv6 fills address6 in); readonly to everyone else.
  const clients: MutableClientHost[] = [];
  let ipv6 = false;
  const ip = (args: readonly string[]): Promise<RunResult> => runChecked(tools.ip, args);

  const addNamespace = async (name: string): Promise<void> => {
    await ip(['netns', 'add', name]);
    created.push(name);
    await ip(['-n', name, 'link', 'set', 'lo', 'up']);
  };

  let destroyed = false;
  const destroy = async (): Promise<void> => {
    if (destroyed) return;
    destroyed = true;
    for (const name of [...created].reverse()) await removeNamespace(tools.ip, name);
  };

  const addClientHost = async (address: string): Promise<ClientHost> => {
    const octet = address.split('.').at(-1) ?? '';
    if (!address.startsWith('203.0.113.') || !/^\d{1,3}$/.test(octet) || address === PUBLIC_ADDRESS) {
      throw new Error(`client host address must be a free 203.0.113.x address, got ${address}`);
    }
    if (clients.some((host) => host.address === address)) throw new Error(`client host ${address} exists already`);
    const namespace = `${base}-c${octet}`;
    const port = `c${octet}`;
    await addNamespace(namespace);
    await ip(['-n', namespace, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', gateway]);
    await ip(['-n', gateway, 'link', 'set', port, 'master', 'br0']);
    await ip(['-n', gateway, 'link', 'set', port, 'up']);
    await ip(['-n', namespace, 'addr', 'add', `${address}/${PUBLIC_PREFIX_LENGTH}`, 'dev', 'eth0']);
    await ip(['-n', namespace, 'link', 'set', 'eth0', 'up']);
    const host: MutableClientHost = { namespace, address, address6: undefined };
    clients.push(host);
    if (ipv6) await addAddress6(host);
    return host;
  };

  const addAddress6 = async (host: MutableClientHost): Promise<void> => {
    const address6 = clientAddress6(host.address);
    await ip(['-n', host.namespace, 'addr', 'add', `${address6}/${PUBLIC_PREFIX6_LENGTH}`, 'dev', 'eth0', 'nodad']);
    host.address6 = address6;
  };

  const enableIpv6 = async (): Promise<void> => {
    if (ipv6) return;
    ipv6 = true;
    await ip(['-n', gateway, 'addr', 'add', `${PUBLIC_ADDRESS6}/${PUBLIC_PREFIX6_LENGTH}`, 'dev', 'br0', 'nodad']);
    for (const host of clients) await addAddress6(host);
  };

  const iptables = async (args: readonly string[]): Promise<void> => {
    await runChecked(tools.ip, ['netns', 'exec', gateway, tools.iptables, '-w', '5', ...args]);
  };

  const setForwarding = async (on: boolean): Promise<void> => {
    // /proc/sys/net is per namespace for the process that opens it; sh avoids needing procps' sysctl.
    await runChecked(tools.ip, ['netns', 'exec', gateway, '/bin/sh', '-c', `echo ${on ? 1 : 0} > /proc/sys/net/ipv4/ip_forward`]);
  };

  const setNat = async (mode: NatMode): Promise<void> => {
    await iptables(['-t', 'nat', '-F', 'PREROUTING']);
    await iptables(['-t', 'nat', '-F', 'POSTROUTING']);
    const passiveRange = `${SERVER_PASSIVE_PORTS.first}:${SERVER_PASSIVE_PORTS.last}`;
    const dnat = (ports: string): readonly string[] => [
      '-t', 'nat', '-A', 'PREROUTING', '-i', 'br0', '-d', PUBLIC_ADDRESS, '-p', 'tcp', '--dport', ports,
      '-j', 'DNAT', '--to-destination', SERVER_ADDRESS,
    ];
    switch (mode) {
      case 'off':
        await setForwarding(false);
        return;
      case 'one-to-one':
        await iptables(dnat('21'));
        await iptables(dnat(passiveRange));
        await setForwarding(true);
        return;
      case 'passive-only':
        await iptables(dnat(passiveRange));
        await setForwarding(true);
        return;
      case 'forwarding':
        await setForwarding(true);
        return;
      default: {
        const unknown: never = mode;
        throw new Error(`unknown NAT mode ${String(unknown)}`);
      }
    }
  };

  const countNattedPassiveConnections = async (): Promise<number> => {
    const result = await runChecked(tools.ip, [
      'netns', 'exec', gateway, tools.iptables, '-w', '5', '-t', 'nat', '-L', 'PREROUTING', '-n', '-v', '-x',
    ]);
    let connections = 0;
    for (const line of result.stdout.toString('utf8').split('\n')) {
      if (!line.includes('DNAT') || !line.includes(`dpts:${SERVER_PASSIVE_PORTS.first}:${SERVER_PASSIVE_PORTS.last}`)) continue;
      const packets = Number(line.trim().split(/\s+/)[0]);
      if (Number.isInteger(packets)) connections += packets;
    }
    return connections;
  };

  try {
    await addNamespace(gateway);
    await addNamespace(server);
    await ip(['-n', gateway, 'link', 'add', 'br0', 'type', 'bridge']);
    await ip(['-n', gateway, 'addr', 'add', `${PUBLIC_ADDRESS}/${PUBLIC_PREFIX_LENGTH}`, 'dev', 'br0']);
    await ip(['-n', gateway, 'link', 'set', 'br0', 'up']);
    await ip(['-n', gateway, 'link', 'add', 'priv0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', server]);
    await ip(['-n', gateway, 'addr', 'add', `${GATEWAY_PRIVATE_ADDRESS}/${PRIVATE_PREFIX_LENGTH}`, 'dev', 'priv0']);
    await ip(['-n', gateway, 'link', 'set', 'priv0', 'up']);
    await ip(['-n', server, 'addr', 'add', `${SERVER_ADDRESS}/${PRIVATE_PREFIX_LENGTH}`, 'dev', 'eth0']);
    await ip(['-n', server, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', server, 'route', 'add', 'default', 'via', GATEWAY_PRIVATE_ADDRESS]);
    await addClientHost(FIRST_CLIENT_ADDRESS);
    await setNat('off');
  } catch (error) {
    await destroy();
    throw error;
  }

  const execArgs = (namespace: string): readonly string[] => ['netns', 'exec', namespace];
  const firstClient = clients[0];
  if (firstClient === undefined) throw new Error('unreachable: the first client host was not created');
  return {
    gateway,
    server,
    clients,
    client: firstClient,
    addClientHost,
    enableIpv6,
    setNat,
    countNattedPassiveConnections,
    exec: (namespace, file, args, options) => run(tools.ip, [...execArgs(namespace), file, ...args], options),
    execArgs,
    destroy,
  };
}

/** Ends whatever still runs in a namespace this run made, then deletes it. */
export async function removeNamespace(ip: string, name: string): Promise<void> {
  // Whatever still runs inside (a ProFTPD session child, a client that hung) is ours: end it by pid.
  const pids = await run(ip, ['netns', 'pids', name]);
  for (const pid of pids.stdout.toString('utf8').split(/\s+/).filter((word) => /^\d+$/.test(word))) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await run(ip, ['netns', 'del', name]);
}

/** Whether the run that made a namespace (or temp dir) may still use it: its pid is alive and runs our node binary. */
export function isLiveRun(pid: number): boolean {
  try {
    // A reused pid that runs another program (a shell, ProFTPD) cannot be a vitest worker; any
    // Node binary can (a run from another checkout has its own pinned node).
    return /(^|\/)node$/.test(readlinkSync(`/proc/${pid}/exe`));
  } catch {
    return false;
  }
}

async function removeStaleNamespaces(ip: string): Promise<void> {
  const list = await runChecked(ip, ['netns', 'list']);
  for (const line of list.stdout.toString('utf8').split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const match = /^fmq-(\d+)-/.exec(name);
    if (match === null || match[1] === undefined) continue;
    const owner = Number(match[1]);
    if (owner === process.pid || !isLiveRun(owner)) await removeNamespace(ip, name);
  }
}

// Runs inside a namespace (Node cannot setns itself): dial until the server's first reply line arrives,
// bounded by both attempts and time, then print that line.
const BANNER_PROBE = `
const net = require('node:net');
const [host, portText, timeoutText] = process.argv.slice(1);
const deadline = Date.now() + Number(timeoutText);
let attempts = 0;
function attempt() {
  attempts += 1;
  const socket = net.connect({ host, port: Number(portText) });
  let text = '';
  socket.setTimeout(2000);
  socket.on('data', (chunk) => {
    text += chunk.toString('latin1');
    const end = text.indexOf('\\n');
    if (end >= 0) { process.stdout.write(text.slice(0, end).trim()); socket.destroy(); process.exit(0); }
  });
  const retry = (why) => {
    socket.destroy();
    if (Date.now() > deadline || attempts >= 200) { process.stderr.write('gave up after ' + attempts + ' attempts: ' + why); process.exit(1); }
    setTimeout(attempt, 50);
  };
  socket.on('error', (error) => retry(error.code || error.message));
  socket.on('timeout', () => retry('no banner'));
}
attempt();
`;

/** Waits (bounded) until `host:port` answers with a first line, dialled from inside a namespace. */
export async function waitForFtpBanner(
  ip: string,
  execArgs: readonly string[],
  host: string,
  port: number,
  timeoutMs: number,
): Promise<string> {
  const result = await run(ip, [...execArgs, process.execPath, '-e', BANNER_PROBE, host, String(port), String(timeoutMs)], {
    timeoutMs: timeoutMs + 5_000,
  });
  if (result.code !== 0) throw new Error(`no banner from ${host}:${port}: ${result.stderr.trim()}`);
  return result.stdout.toString('latin1');
}
