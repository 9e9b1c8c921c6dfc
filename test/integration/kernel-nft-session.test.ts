/**
 * NftSession, the one long-lived `nft -j -i` of kernel mode, against a stand-in nft: a shell script
 * that reads a line at a time as nft does and answers `describe meta mark` with nft's line. What a
 * request line contains tells it what to do: fail (on stderr, so the 2>&1 merge is exercised),
 * hang, die in the middle of a reply, split its reply across reads, echo the request, or die once
 * a request is answered. The real nft is exercised by test/e2e/kernel-nft-session.test.ts.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KernelForwarder } from '../../src/kernel/kernel-forwarder.js';
import { NftRunner } from '../../src/kernel/nft-command.js';
import { type NftRestartReason, NftSession, type NftSessionOptions } from '../../src/kernel/nft-session.js';
import { createLogger } from '../../src/observability/logger.js';

const directory = mkdtempSync(join(tmpdir(), 'ftpmasq-fake-nft-session-'));
const linesFile = join(directory, 'lines.log');
const startsFile = join(directory, 'starts.log');
const fakeNft = join(directory, 'nft');
writeFileSync(linesFile, '');
writeFileSync(startsFile, '');
writeFileSync(
  fakeNft,
  `#!/bin/sh
echo "$* $$" >> "${startsFile}"
die_after=no
while IFS= read -r line; do
  echo "$line" >> "${linesFile}"
  case "$line" in
    'describe meta mark')
      printf 'meta expression, datatype mark (packet mark) '
      printf '(basetype integer), 32 bits\\n'
      [ "$die_after" = yes ] && exit 0 ;;
    *'"error"'*) echo 'internal:0:0-0: Error: Could not process rule: No such file or directory' >&2; echo >&2 ;;
    *'"hang"'*) exec sleep 30 ;;
    *'"crash"'*) printf 'Error: half a line'; exit 3 ;;
    *'"split"'*) printf '{"nftables": [{"counter": {"name": "f1_up", '; sleep 0.05; printf '"table": "ftpmasq", "packets": 1, "bytes": 60}}]}\\n' ;;
    *'"echo"'*) echo "$line" ;;
    *'"die-after"'*) die_after=yes ;;
    *'"list"'*) echo '{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"counter": {"family": "ip", "name": "f1_up", "table": "ftpmasq", "packets": 3, "bytes": 180}}]}' ;;
  esac
done
`,
);
chmodSync(fakeNft, 0o755);
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const starts = (): number => readFileSync(startsFile, 'utf8').split('\n').filter((line) => line !== '').length;
const log = createLogger(process.env.DBG ? 'debug' : 'silent');

function session(options: NftSessionOptions = {}): { nft: NftSession; restarts: NftRestartReason[] } {
  const restarts: NftRestartReason[] = [];
  return { nft: new NftSession(log, { executable: fakeNft, restartIntervalMs: 0, onRestart: (reason) => restarts.push(reason), ...options }), restarts };
}

describe('NftSession: one nft, fed over a pipe', () => {
  it('answers each request from the one process: success, a listing, an error on stderr, a reply split across reads', async () => {
    const before = starts();
    const { nft, restarts } = session();
    expect(await nft.apply([{ add: 'ok' }])).toEqual({ ok: true, stdout: '' });
    const listed = await nft.listCounters();
    expect(listed.ok && listed.stdout).toContain('"name": "f1_up"');
    expect(await nft.apply([{ delete: 'error' }])).toEqual({ ok: false, error: 'nft: internal:0:0-0: Error: Could not process rule: No such file or directory' });
    expect(await nft.apply([{ list: 'split' }])).toEqual({
      ok: true,
      stdout: '{"nftables": [{"counter": {"name": "f1_up", "table": "ftpmasq", "packets": 1, "bytes": 60}}]}\n',
    });
    expect(await nft.apply([{ add: 'ok' }])).toEqual({ ok: true, stdout: '' });
    expect({ started: nft.started, spawned: starts() - before, restarts }).toEqual({ started: 1, spawned: 1, restarts: [] });
    expect(readFileSync(startsFile, 'utf8')).toMatch(/-j -i \d+\n$/);
    await nft.close();
  });

  it('keeps replies matched to requests: 40 requests queued at once, urgent ones first', async () => {
    const { nft } = session();
    const order: string[] = [];
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, index) => {
        const id = `r${index}`;
        return nft.apply([{ echo: id }], index % 2 === 0 ? 'background' : 'urgent').then((result) => {
          order.push(id);
          return { id, result };
        });
      }),
    );
    for (const { id, result } of results) expect(result).toEqual({ ok: true, stdout: `{"nftables":[{"echo":"${id}"}]}\n` });
    // The first (background) request was sent at once; then every urgent one before the other background ones.
    expect(order.slice(0, 21)).toEqual(['r0', ...Array.from({ length: 20 }, (_, index) => `r${2 * index + 1}`)]);
    expect(nft.started).toBe(1);
    await nft.close();
  });

  it('a hung nft: the request fails in time, the process is killed, counted, and the next request gets a new one', async () => {
    const { nft, restarts } = session({ timeoutMs: 300 });
    const started = performance.now();
    expect(await nft.apply([{ add: 'hang' }])).toEqual({ ok: false, error: 'nft did not answer within 300 ms' });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(await nft.apply([{ echo: 'after' }])).toEqual({ ok: true, stdout: '{"nftables":[{"echo":"after"}]}\n' });
    expect({ started: nft.started, restarts }).toEqual({ started: 2, restarts: ['timeout'] });
    await nft.close();
  });

  it('a crash in the middle of a reply fails that request with what nft said; the next one is answered', async () => {
    const { nft, restarts } = session();
    const crashed = await nft.apply([{ add: 'crash' }]);
    expect(crashed).toEqual({ ok: false, error: `${fakeNft} exited 3 in a request: Error: half a line` });
    expect(await nft.apply([{ add: 'ok' }])).toEqual({ ok: true, stdout: '' });
    expect({ started: nft.started, restarts }).toEqual({ started: 2, restarts: ['exited'] });
    await nft.close();
  });

  it('a process that dies between requests is restarted at most once per interval', async () => {
    const { nft, restarts } = session({ restartIntervalMs: 400 });
    const started = performance.now();
    // A request sent before the death is seen fails with it (nft may or may not have run it); this one waits.
    expect(await nft.apply([{ add: 'die-after' }])).toEqual({ ok: true, stdout: '' });
    await sleep(100);
    expect(await nft.apply([{ add: 'die-after' }])).toEqual({ ok: true, stdout: '' });
    await sleep(100);
    expect(await nft.apply([{ add: 'ok' }])).toEqual({ ok: true, stdout: '' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(2 * 400 - 20);
    expect({ started: nft.started, restarts }).toEqual({ started: 3, restarts: ['exited', 'exited'] });
    await nft.close();
  });

  it('after maxRequests a fresh process takes over (nft keeps every input line as history)', async () => {
    const { nft, restarts } = session({ maxRequests: 3 });
    for (let index = 0; index < 7; index++) expect(await nft.apply([{ add: 'ok' }])).toEqual({ ok: true, stdout: '' });
    expect({ started: nft.started, restarts }).toEqual({ started: 3, restarts: [] });
    await nft.close();
  });

  it('close: the request in flight is answered, queued ones fail, later ones fail at once; idempotent', async () => {
    const { nft } = session();
    const inFlight = nft.apply([{ echo: 'last' }]);
    const queued = nft.apply([{ echo: 'queued' }]);
    await Promise.all([nft.close(), nft.close()]);
    expect(await inFlight).toEqual({ ok: true, stdout: '{"nftables":[{"echo":"last"}]}\n' });
    expect(await queued).toEqual({ ok: false, error: 'nft session closed' });
    expect(await nft.apply([{ add: 'ok' }])).toEqual({ ok: false, error: 'nft session closed' });
  });

  it('an nft that cannot be run fails each request with why', async () => {
    const { nft } = session({ executable: join(directory, 'missing-nft') });
    const result = await nft.apply([{ add: 'ok' }]);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatch(/missing-nft exited 127 in a request/);
    await nft.close();
  });
});

describe('KernelForwarder over one long-lived nft', () => {
  // The one-shot runs (start-up checks, the table): each logs a line starting `once`.
  const oneShot = join(directory, 'nft-once');
  writeFileSync(oneShot, `#!/bin/sh\necho "once $*" >> "${startsFile}"\n[ "$1" = "--version" ] && echo "nftables v1.0.6"\nexit 0\n`);
  chmodSync(oneShot, 0o755);
  const roots = { procStatus: () => Promise.resolve('CapEff:\t000001ffffffffff\n'), ipForward: () => Promise.resolve('1\n') };

  it('an nft whose interactive mode does not answer as expected stops the start, and the table is deleted again', async () => {
    // An nft that reads its input and never prints the sentinel's line.
    const mute = join(directory, 'nft-mute');
    writeFileSync(mute, `#!/bin/sh\necho "mute $*" >> "${startsFile}"\nwhile IFS= read -r line; do :; done\n`);
    chmodSync(mute, 0o755);
    writeFileSync(startsFile, '');
    const forwarder = new KernelForwarder(log, { nft: new NftRunner({ executable: oneShot }), session: { executable: mute, timeoutMs: 300 }, checkSources: roots });
    await expect(forwarder.start()).rejects.toThrow(/^--mode kernel: nft -j -i does not answer as expected: nft did not answer within 300 ms$/);
    // The table's script goes on over more lines than its `once` one.
    const runs = readFileSync(startsFile, 'utf8').trim().split('\n').filter((line) => line.startsWith('once '));
    expect(runs).toEqual(['once --version', 'once add table ip ftpmasq', 'once -j {"nftables":[{"delete":{"table":{"family":"ip","name":"ftpmasq"}}}]}']);
    expect(readFileSync(startsFile, 'utf8')).toMatch(/^mute -j -i$/m);
  });

  it('an nft that answers its first listing with more than the listing (a prompt, an echo) stops the start', async () => {
    const chatty = join(directory, 'nft-chatty');
    writeFileSync(chatty, `#!/bin/sh\nwhile IFS= read -r line; do\n  case "$line" in\n    'describe meta mark') echo 'meta expression, datatype mark (packet mark) (basetype integer), 32 bits' ;;\n    *) echo "nft> $line"; echo '{"nftables": []}' ;;\n  esac\ndone\n`);
    chmodSync(chatty, 0o755);
    const forwarder = new KernelForwarder(log, { nft: new NftRunner({ executable: oneShot }), session: { executable: chatty }, checkSources: roots });
    await expect(forwarder.start()).rejects.toThrow(/^--mode kernel: nft -j -i does not answer as expected: nft printed no JSON: /);
  });

  it('20 transfers install, read and remove through one process; stop deletes the table and ends it', async () => {
    writeFileSync(linesFile, '');
    const started: string[] = [];
    const forwarder = new KernelForwarder(log, {
      nft: new NftRunner({ executable: oneShot }),
      session: { executable: fakeNft },
      checkSources: roots,
      events: { started: (process) => started.push(process), restarted: () => undefined },
    });
    await forwarder.start();
    expect(started).toEqual(['session']);
    for (let port = 29600; port < 29620; port++) {
      const forward = await forwarder.install({ client: '203.0.113.2', port, server: '10.0.11.251', serverPort: port + 1000, source: '10.0.11.1' });
      expect(forward?.spec.id).toBe(`f${port - 29599}`);
      await forward?.finish(false);
    }
    expect(forwarder.installed).toBe(0);
    await forwarder.stop();
    expect(started).toEqual(['session']);
    const lines = readFileSync(linesFile, 'utf8').trim().split('\n');
    const requests = lines.filter((line) => line !== 'describe meta mark');
    // One listing at start, then per transfer: its install, a listing, its removal; the table's deletion last.
    expect(requests.length).toBe(1 + 20 * 3 + 1);
    expect(lines.length).toBe(2 * requests.length);
    expect(requests.filter((line) => line.includes('"add":{"limit"')).length).toBe(20);
    expect(requests.at(-1)).toBe('{"nftables":[{"delete":{"table":{"family":"ip","name":"ftpmasq"}}}]}');
  });
});
