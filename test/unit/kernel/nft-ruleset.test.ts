import { describe, expect, it } from 'vitest';
import {
  buildDeleteTableCommands,
  buildDisarmCommands,
  buildForwardCommands,
  buildUncountCommands,
  forwardCounters,
  parseCounterList,
  TABLE_SCRIPT,
  type KernelForwardSpec,
} from '../../../src/kernel/nft-ruleset.js';

const SPEC: KernelForwardSpec = { id: 'f7', client: '203.0.113.2', port: 29500, server: '10.0.11.251', serverPort: 60123, source: '10.0.11.1' };
const T = { family: 'ip', table: 'ftpmasq' } as const;
const CLIENT_PORT = { concat: ['203.0.113.2', 29500] };
const FLOW = { concat: ['203.0.113.2', '10.0.11.251', 60123] };

describe('the JSON of one transfer (issue 14)', () => {
  it('installs a one-packet limit, two counters, then the elements, the oneshot last', () => {
    expect(buildForwardCommands(SPEC)).toEqual([
      { add: { limit: { ...T, name: 'f7_once', rate: 1, per: 'hour', burst: 1, unit: 'packets' } } },
      { add: { counter: { ...T, name: 'f7_up' } } },
      { add: { counter: { ...T, name: 'f7_down' } } },
      { add: { element: { ...T, name: 'to_server', elem: [[FLOW, 'f7_up']] } } },
      { add: { element: { ...T, name: 'to_client', elem: [[FLOW, 'f7_down']] } } },
      { add: { element: { ...T, name: 'targets', elem: [[CLIENT_PORT, { concat: ['10.0.11.251', 60123] }]] } } },
      { add: { element: { ...T, name: 'snat_to', elem: [[FLOW, '10.0.11.1']] } } },
      { add: { element: { ...T, name: 'oneshot', elem: [[CLIENT_PORT, 'f7_once']] } } },
    ]);
  });

  it('disarms: the oneshot, target and source NAT elements and the limit go; the counters stay', () => {
    expect(buildDisarmCommands(SPEC)).toEqual([
      { delete: { element: { ...T, name: 'oneshot', elem: [[CLIENT_PORT, 'f7_once']] } } },
      { delete: { element: { ...T, name: 'targets', elem: [[CLIENT_PORT, { concat: ['10.0.11.251', 60123] }]] } } },
      { delete: { element: { ...T, name: 'snat_to', elem: [[FLOW, '10.0.11.1']] } } },
      { delete: { limit: { ...T, name: 'f7_once' } } },
    ]);
  });

  it('uncounts: the counter elements, then the counters', () => {
    expect(buildUncountCommands(SPEC)).toEqual([
      { delete: { element: { ...T, name: 'to_server', elem: [[FLOW, 'f7_up']] } } },
      { delete: { element: { ...T, name: 'to_client', elem: [[FLOW, 'f7_down']] } } },
      { delete: { counter: { ...T, name: 'f7_up' } } },
      { delete: { counter: { ...T, name: 'f7_down' } } },
    ]);
  });

  it('every name it adds, it deletes', () => {
    const names = (commands: readonly object[], verb: string): string[] =>
      commands.flatMap((command) => Object.entries(command).filter(([key]) => key === verb).map(([, value]) => JSON.stringify(value)));
    const added = names(buildForwardCommands(SPEC), 'add').sort();
    const deleted = names([...buildDisarmCommands(SPEC), ...buildUncountCommands(SPEC)], 'delete');
    // Objects are deleted by name only: compare the names and the elements.
    const key = (text: string): string => text.replace(/,"rate":1,"per":"hour","burst":1,"unit":"packets"/, '');
    expect(deleted.map(key).sort()).toEqual(added.map(key));
  });
});

describe('the table', () => {
  it('is replaced in one transaction: a stale table of a crashed run goes first', () => {
    const lines = TABLE_SCRIPT.split('\n');
    expect(lines.slice(0, 3)).toEqual(['add table ip ftpmasq', 'delete table ip ftpmasq', 'table ip ftpmasq {']);
  });

  it.each([
    { title: 'DNAT only new connections, through the one-packet limit of the (client, port) key', rule: 'ct state new limit name ip saddr . tcp dport map @oneshot dnat ip to ip saddr . tcp dport map @targets' },
    { title: 'source NAT only of what was DNATed', rule: 'ct status dnat snat ip to ip saddr . ip daddr . tcp dport map @snat_to' },
    { title: 'counts towards the server', rule: 'counter name ip saddr . ip daddr . tcp dport map @to_server' },
    { title: 'counts towards the client', rule: 'counter name ip daddr . ip saddr . tcp sport map @to_client' },
  ])('$title', ({ rule }) => {
    expect(TABLE_SCRIPT).toContain(rule);
  });

  it('is deleted whole at stop', () => {
    expect(buildDeleteTableCommands()).toEqual([{ delete: { table: { family: 'ip', name: 'ftpmasq' } } }]);
  });
});

describe('parseCounterList', () => {
  const listing = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { counter: { family: 'ip', name: 'f7_up', table: 'ftpmasq', handle: 14, packets: 11, bytes: 670 } },
      { counter: { family: 'ip', name: 'f7_down', table: 'ftpmasq', handle: 15, packets: 12, bytes: 100836 } },
      { counter: { family: 'ip', name: 'f8_up', table: 'other', packets: 1, bytes: 1 } },
      { counter: { family: 'ip', name: 'f9_up', table: 'ftpmasq', packets: -1, bytes: 1 } },
    ],
  });

  it("reads this table's counters by name, skipping other tables and malformed entries", () => {
    const parsed = parseCounterList(listing);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect([...parsed.value.keys()]).toEqual(['f7_up', 'f7_down']);
    expect(forwardCounters(SPEC, parsed.value)).toEqual({ toServer: { packets: 11, bytes: 670 }, toClient: { packets: 12, bytes: 100836 } });
    expect(forwardCounters({ id: 'f99' }, parsed.value)).toEqual({ toServer: { packets: 0, bytes: 0 }, toClient: { packets: 0, bytes: 0 } });
  });

  it.each([
    { title: 'not JSON', output: 'Error: no such table', reason: /nft printed no JSON/ },
    { title: 'no nftables list', output: '{"x": []}', reason: /without an "nftables" list/ },
    { title: 'a list that is not one', output: '{"nftables": {}}', reason: /without an "nftables" list/ },
  ])('a failure is a value: $title', ({ output, reason }) => {
    const parsed = parseCounterList(output);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });
});
