/**
 * The nftables JSON (libnftables-json(5)) that ftpmasq sends for kernel mode. Pure: values in,
 * command lists out; `nft-command.ts` runs them, one list per `nft -j` run, which the kernel
 * applies as one transaction (all or nothing).
 *
 * The table is static (TABLE_SCRIPT): three chains with one or two rules each, and maps that the
 * rules look up. A transfer adds only named objects and map elements, keyed by its addresses:
 *
 *   data_dnat (prerouting, nat):  ct state new
 *                                 limit name (ip saddr . tcp dport) map @oneshot      <- the transfer's own limit
 *                                 dnat to (ip saddr . tcp dport) map @targets
 *   data_snat (postrouting, nat): ct status dnat snat to (ip saddr . ip daddr . tcp dport) map @snat_to
 *   data_count (forward, filter): counter name (ip saddr . ip daddr . tcp dport) map @to_server
 *                                 counter name (ip daddr . ip saddr . tcp sport) map @to_client
 *
 * Only the session's client address is a key of `@oneshot`, so nobody else's SYN matches. The
 * transfer's limit object (`rate 1/hour burst 1 packets`) lets exactly one packet through, the
 * first SYN of the first connection: the kernel takes the token under a lock, so no second
 * connection, not even one racing on another CPU, is DNATed. The established flow goes on by
 * connection tracking (NAT chains see only a connection's first packet). Hash lookups keep the
 * per-packet cost of the forward chain flat however many transfers run.
 */

export const TABLE_FAMILY = 'ip';
export const TABLE_NAME = 'ftpmasq';

/** One nftables JSON command (`{"add": {...}}`); the schema is nft's, not ours. */
export type NftCommand = Readonly<Record<string, unknown>>;

/** One transfer forwarded by the kernel. All addresses IPv4, dotted quad. */
export interface KernelForwardSpec {
  /** Names the transfer's limit and counters: `[a-z0-9_]`, unique while the table lives. */
  readonly id: string;
  /** The session's control client: the only source the port is forwarded for. */
  readonly client: string;
  /** ftpmasq's passive port named in the 227/229. */
  readonly port: number;
  /** The server's data address (the upstream control connection's peer) and its passive port. */
  readonly server: string;
  readonly serverPort: number;
  /** The gateway's address facing the server (the upstream control connection's source). */
  readonly source: string;
}

/** What the kernel counted for one transfer: IP packets and bytes, headers included. */
export interface ForwardCounters {
  readonly toServer: { readonly packets: number; readonly bytes: number };
  readonly toClient: { readonly packets: number; readonly bytes: number };
}

const table = { family: TABLE_FAMILY, table: TABLE_NAME } as const;

/**
 * Creates ftpmasq's table from nothing, in one transaction. `add` then `delete` first: whatever a
 * crashed ftpmasq left (a `kill -9` runs no clean-up) is removed, and a missing table is no error.
 * In nft's own syntax, not JSON: nft 1.0.6 (Debian 12) crashes parsing the JSON form of a DNAT
 * whose address and port come from a concatenated map; the text form is the same ruleset, and
 * this one string is all of it.
 */
export const TABLE_SCRIPT = `add table ${TABLE_FAMILY} ${TABLE_NAME}
delete table ${TABLE_FAMILY} ${TABLE_NAME}
table ${TABLE_FAMILY} ${TABLE_NAME} {
  map oneshot { type ipv4_addr . inet_service : limit; }
  map targets { type ipv4_addr . inet_service : ipv4_addr . inet_service; }
  map snat_to { type ipv4_addr . ipv4_addr . inet_service : ipv4_addr; }
  map to_server { type ipv4_addr . ipv4_addr . inet_service : counter; }
  map to_client { type ipv4_addr . ipv4_addr . inet_service : counter; }
  chain data_dnat {
    type nat hook prerouting priority dstnat; policy accept;
    ct state new limit name ip saddr . tcp dport map @oneshot dnat ip to ip saddr . tcp dport map @targets
  }
  chain data_snat {
    type nat hook postrouting priority srcnat; policy accept;
    ct status dnat snat ip to ip saddr . ip daddr . tcp dport map @snat_to
  }
  chain data_count {
    type filter hook forward priority filter; policy accept;
    counter name ip saddr . ip daddr . tcp dport map @to_server
    counter name ip daddr . ip saddr . tcp sport map @to_client
  }
}
`;

/** At stop: the table and everything in it. */
export function buildDeleteTableCommands(): NftCommand[] {
  return [{ delete: { table: { family: TABLE_FAMILY, name: TABLE_NAME } } }];
}

export function limitName(spec: Pick<KernelForwardSpec, 'id'>): string {
  return `${spec.id}_once`;
}

export function counterNames(spec: Pick<KernelForwardSpec, 'id'>): { readonly toServer: string; readonly toClient: string } {
  return { toServer: `${spec.id}_up`, toClient: `${spec.id}_down` };
}

function element(name: string, elem: readonly unknown[]): object {
  return { element: { ...table, name, elem } };
}

function armElements(spec: KernelForwardSpec): { readonly oneshot: object; readonly targets: object; readonly snat: object } {
  const clientPort = { concat: [spec.client, spec.port] };
  return {
    oneshot: element('oneshot', [[clientPort, limitName(spec)]]),
    targets: element('targets', [[clientPort, { concat: [spec.server, spec.serverPort] }]]),
    snat: element('snat_to', [[flowKey(spec), spec.source]]),
  };
}

function flowKey(spec: KernelForwardSpec): object {
  return { concat: [spec.client, spec.server, spec.serverPort] };
}

function countElements(spec: KernelForwardSpec): { readonly toServer: object; readonly toClient: object } {
  const names = counterNames(spec);
  return {
    toServer: element('to_server', [[flowKey(spec), names.toServer]]),
    toClient: element('to_client', [[flowKey(spec), names.toClient]]),
  };
}

/**
 * One transfer's forwarding, in one transaction: its one-packet limit and counters, then the map
 * elements that use them. The `oneshot` element goes last, so the DNAT is armed only once its
 * target and its source NAT are in place (the transaction is atomic anyway; the order documents it).
 */
export function buildForwardCommands(spec: KernelForwardSpec): NftCommand[] {
  const names = counterNames(spec);
  const arm = armElements(spec);
  const count = countElements(spec);
  return [
    { add: { limit: { ...table, name: limitName(spec), rate: 1, per: 'hour', burst: 1, unit: 'packets' } } },
    { add: { counter: { ...table, name: names.toServer } } },
    { add: { counter: { ...table, name: names.toClient } } },
    { add: count.toServer },
    { add: count.toClient },
    { add: arm.targets },
    { add: arm.snat },
    { add: arm.oneshot },
  ];
}

/**
 * No new connection is forwarded any more (the passive timeout, the transfer's end); a flow
 * already established goes on, counted, since conntrack keeps its NAT binding.
 */
export function buildDisarmCommands(spec: KernelForwardSpec): NftCommand[] {
  const arm = armElements(spec);
  return [
    { delete: arm.oneshot },
    { delete: arm.targets },
    { delete: arm.snat },
    { delete: { limit: { ...table, name: limitName(spec) } } },
  ];
}

/** The counting half, removed once the transfer's bytes are read. */
export function buildUncountCommands(spec: KernelForwardSpec): NftCommand[] {
  const names = counterNames(spec);
  const count = countElements(spec);
  return [
    { delete: count.toServer },
    { delete: count.toClient },
    { delete: { counter: { ...table, name: names.toServer } } },
    { delete: { counter: { ...table, name: names.toClient } } },
  ];
}

/** `nft -j list counters table ip ftpmasq`: asks for every counter of the table. */
export const LIST_COUNTERS_ARGS: readonly string[] = ['-j', 'list', 'counters', 'table', TABLE_FAMILY, TABLE_NAME];

/** The same request as one JSON command, for a long-lived `nft -j -i` (nft-session.ts). */
export const LIST_COUNTERS_COMMANDS: readonly NftCommand[] = [{ list: { counters: { family: TABLE_FAMILY, table: TABLE_NAME } } }];

type ParsedCounters = ReadonlyMap<string, { readonly packets: number; readonly bytes: number }>;

/**
 * The counters in `nft -j list counters` output, by name. nft's output is read as untrusted
 * JSON: anything not shaped like a counter of our table is skipped; unreadable JSON is a value.
 */
export function parseCounterList(output: string): { ok: true; value: ParsedCounters } | { ok: false; reason: string } {
  let document: unknown;
  try {
    document = JSON.parse(output);
  } catch (error) {
    return { ok: false, reason: `nft printed no JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  const items = isRecord(document) ? document['nftables'] : undefined;
  if (!Array.isArray(items)) return { ok: false, reason: 'nft JSON without an "nftables" list' };
  const counters = new Map<string, { packets: number; bytes: number }>();
  for (const item of items) {
    const counter = isRecord(item) ? item['counter'] : undefined;
    if (!isRecord(counter) || counter['table'] !== TABLE_NAME) continue;
    const { name, packets, bytes } = counter;
    if (typeof name === 'string' && isCount(packets) && isCount(bytes)) counters.set(name, { packets, bytes });
  }
  return { ok: true, value: counters };
}

/** One transfer's two counters; zero when a counter is absent (never installed, or removed). */
export function forwardCounters(spec: Pick<KernelForwardSpec, 'id'>, counters: ParsedCounters): ForwardCounters {
  const names = counterNames(spec);
  const zero = { packets: 0, bytes: 0 };
  return { toServer: counters.get(names.toServer) ?? zero, toClient: counters.get(names.toClient) ?? zero };
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
