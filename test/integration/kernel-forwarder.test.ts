/**
 * KernelForwarder and NftRunner against a stand-in `nft` (a shell script that records each run and
 * prints counters): the order of the kernel calls per transfer, the removal once, the serialization,
 * the time bound. The real nft and kernel are exercised by test/e2e/kernel.test.ts.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KernelForwarder } from '../../src/kernel/kernel-forwarder.js';
import { NftRunner } from '../../src/kernel/nft-command.js';
import { createLogger } from '../../src/observability/logger.js';

const directory = mkdtempSync(join(tmpdir(), 'ftpmasq-fake-nft-'));
const logFile = join(directory, 'calls.log');
const fakeNft = join(directory, 'nft');
// Each run appends one line: its arguments, then what it read (JSON on one line). `list counters`
// prints transfer f1's counters, growing on each call until the third, as a finishing transfer's do.
writeFileSync(
  fakeNft,
  `#!/bin/sh
if [ "$1" = "--version" ]; then echo "nftables v1.0.6"; exit 0; fi
if [ "$2" = "list" ]; then
  n=$(grep -c '^-j list' "${logFile}" 2>/dev/null || true)
  echo "-j list counters" >> "${logFile}"
  [ "$n" -gt 2 ] && n=2
  echo '{"nftables":[{"counter":{"family":"ip","name":"f1_up","table":"ftpmasq","packets":3,"bytes":'$((100 + n))'}},{"counter":{"family":"ip","name":"f1_down","table":"ftpmasq","packets":9,"bytes":9000}}]}'
  exit 0
fi
if [ "$1" = "sleep" ]; then sleep 5; exit 0; fi
echo "$*" | tr '\\n' ' ' >> "${logFile}"
echo >> "${logFile}"
`,
);
chmodSync(fakeNft, 0o755);

afterAll(() => rmSync(directory, { recursive: true, force: true }));

const calls = (): string[] => readFileSync(logFile, 'utf8').trim().split('\n');
const kinds = (): string[] =>
  calls().map((line) => {
    if (line.startsWith('-j list')) return 'list';
    if (line.startsWith('add table ip ftpmasq')) return 'table';
    if (line.includes('{"delete":{"table":{"family":"ip","name":"ftpmasq"}}}')) return 'delete-table';
    if (line.includes('"add":{"limit"')) return 'install';
    const disarms = line.split('"delete":{"element":{"family":"ip","table":"ftpmasq","name":"oneshot"').length - 1;
    const uncounts = line.split('"delete":{"element":{"family":"ip","table":"ftpmasq","name":"to_server"').length - 1;
    if (disarms + uncounts > 0) return `remove ${disarms}+${uncounts}`;
    return line;
  });

const roots = { procStatus: () => Promise.resolve('CapEff:\t000001ffffffffff\n'), ipForward: () => Promise.resolve('1\n') };
const FIELDS = { client: '203.0.113.2', port: 29500, server: '10.0.11.251', serverPort: 60123, source: '10.0.11.1' };

describe('KernelForwarder (issue 14)', () => {
  it('creates the table, installs, disarms, reads the counters until they settle, removes once, deletes the table', async () => {
    const forwarder = new KernelForwarder(createLogger('silent'), {
      nft: new NftRunner({ executable: fakeNft }),
      checkSources: roots,
      settleIntervalMs: 10,
    });
    expect(await forwarder.install(FIELDS)).toBeUndefined();
    await forwarder.start();
    await forwarder.start();
    const forward = await forwarder.install(FIELDS);
    expect(forward?.spec.id).toBe('f1');
    expect(forwarder.installed).toBe(1);
    const [first, second] = await Promise.all([forward?.finish(true), forward?.finish(true)]);
    expect(first).toEqual({ toServer: { packets: 3, bytes: 102 }, toClient: { packets: 9, bytes: 9000 } });
    expect(second).toBe(first);
    expect(forwarder.installed).toBe(0);
    await forwarder.stop();
    await forwarder.stop();
    expect(kinds()).toEqual(['table', 'install', 'list', 'list', 'list', 'list', 'remove 1+1', 'delete-table']);
    expect(calls()[0]).toMatch(/^add table ip ftpmasq delete table ip ftpmasq table ip ftpmasq {/);
  });
});

describe('KernelForwarder: many transfers (issue 14)', () => {
  it('transfers ending together share counter reads and one removal; a disarmed one is not disarmed twice', async () => {
    writeFileSync(logFile, '');
    const forwarder = new KernelForwarder(createLogger('silent'), { nft: new NftRunner({ executable: fakeNft }), checkSources: roots });
    await forwarder.start();
    const forwards = [];
    for (let port = 29501; port <= 29503; port++) forwards.push(await forwarder.install({ ...FIELDS, port, serverPort: port + 1000 }));
    forwards[0]?.disarm();
    await Promise.all(forwards.map((forward) => forward?.finish(false)));
    expect(forwarder.installed).toBe(0);
    await forwarder.stop();
    const removals = kinds().filter((kind) => kind.startsWith('remove'));
    // Each transfer disarmed once (one of them by the passive timeout) and uncounted once; the two
    // that ended together removed whole in one run.
    const sum = (index: number): number => removals.reduce((total, kind) => total + Number(kind.slice(7).split('+')[index]), 0);
    expect({ disarms: sum(0), uncounts: sum(1) }).toEqual({ disarms: 3, uncounts: 3 });
    expect(removals[0]).toBe('remove 1+0');
    expect(removals).toContain('remove 2+2');
    expect(kinds().filter((kind) => kind === 'list').length).toBeLessThanOrEqual(2);
  });
});

describe('NftRunner', () => {
  it('an urgent run overtakes queued background runs', async () => {
    const runner = new NftRunner({ executable: 'sh' });
    const order: string[] = [];
    const first = runner.run(['-c', 'sleep 0.2'], 'background').then(() => order.push('first'));
    const background = runner.run(['-c', 'true'], 'background').then(() => order.push('background'));
    const urgent = runner.run(['-c', 'true']).then(() => order.push('urgent'));
    await Promise.all([first, background, urgent]);
    expect(order).toEqual(['first', 'urgent', 'background']);
  });

  it('a run that takes too long is killed and fails, and the next run still goes', async () => {
    const runner = new NftRunner({ executable: fakeNft, timeoutMs: 200 });
    const slow = runner.run(['sleep']);
    const next = runner.run(['--version']);
    expect(await slow).toEqual({ ok: false, error: `${fakeNft} sleep did not finish within 200 ms` });
    expect(await next).toEqual({ ok: true, stdout: 'nftables v1.0.6\n' });
  });

  it('a failing run is a value quoting its stderr', async () => {
    const runner = new NftRunner({ executable: 'sh' });
    expect(await runner.run(['-c', 'echo "Error: No such file or directory" >&2; exit 1'])).toEqual({
      ok: false,
      error: 'sh -c echo "Error: No such file or directory" >&2; exit 1 exited 1: Error: No such file or directory',
    });
  });
});
