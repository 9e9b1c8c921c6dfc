/**
 * Rewrite mode: only the 227 address is changed (to --public-address), the upstream's port is
 * kept and data goes straight to the upstream, not through ftpmasq. A 227 that already names the
 * public address, or a routable one, passes byte-identical; odd 227 forms come out canonical.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../src/daemon.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { sha256, trust227 } from '../helpers/raw-ftp-client.js';
import type { ScriptedUpstream } from '../helpers/scripted-upstream.js';

const FILE = randomBytes(1024 * 1024);

const { startProxy, scripted, legacyServer, openLoggedIn } = createProxyHarness({
  // Below the ephemeral range (32768-60999); one hundred per integration file (unused in rewrite
  // mode, which must not take any: a test checks that).
  passivePorts: '23400-23499',
  proxy: { mode: 'rewrite', publicAddress: '127.0.0.1' },
  legacy: { files: new Map([['file.bin', FILE]]) },
});

/** An upstream whose PASV reply is `reply`, for the rest the usual. */
function upstreamAnsweringPasv(reply: string): Promise<ScriptedUpstream> {
  return scripted(async (connection) => {
    await connection.greetAndLogin();
    await connection.serve((verb) => (verb === 'PASV' ? reply : undefined));
  });
}

async function counter(daemon: RunningDaemon, name: 'rewrites' | 'dataConnections', label: string): Promise<number> {
  const metric = await (name === 'rewrites' ? daemon.metrics.rewrites.get() : daemon.metrics.dataConnections.get());
  return metric.values.find((value) => Object.values(value.labels).includes(label))?.value ?? 0;
}

describe('rewrite mode', () => {
  it("rewrites 10.0.11.251 to the public address, keeps the upstream's port, and data goes straight to the upstream", async () => {
    const { legacy, address } = await legacyServer();
    const { daemon, endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const result = await client.retrieve('file.bin');

    const upstreamReply = legacy.pasvReplies.at(-1) ?? '';
    expect(upstreamReply).toContain('(10,0,11,251,');
    const tuple = /,(\d+),(\d+)\)/.exec(upstreamReply);
    const upstreamPort = Number(tuple?.[1]) * 256 + Number(tuple?.[2]);
    expect(result.setup.text).toMatch(/^227 Entering Passive Mode \(127,0,0,1,\d+,\d+\)\.\r\n$/);
    expect(trust227(result.setup).port).toBe(upstreamPort);
    expect(sha256(result.data)).toBe(sha256(FILE));
    expect(result.final.code).toBe(226);

    // Straight to the upstream: ftpmasq relayed nothing and held no port.
    expect(await counter(daemon, 'dataConnections', 'passive')).toBe(0);
    expect(await counter(daemon, 'rewrites', 'pasv')).toBe(1);
    expect((await daemon.metrics.passivePortsInUse.get()).values[0]?.value).toBe(0);
  });

  it('uploads straight to the upstream', async () => {
    const { legacy, address } = await legacyServer();
    const { endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const content = randomBytes(512 * 1024);
    const result = await client.store('up.bin', content);
    expect(result.final.code).toBe(226);
    expect(sha256(legacy.files.get('up.bin') ?? Buffer.alloc(0))).toBe(sha256(content));
  });

  it('leaves a 227 that already names the public address byte-identical', async () => {
    const { legacy, address } = await legacyServer({ advertisedAddress: '127.0.0.1' });
    const { daemon, endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const result = await client.retrieve('file.bin');
    expect(result.setup.text).toBe(`${legacy.pasvReplies.at(-1)}\r\n`);
    expect(sha256(result.data)).toBe(sha256(FILE));
    expect(await counter(daemon, 'rewrites', 'pasv')).toBe(0);
  });

  it.each([
    { title: 'the public address with odd text around it', reply: '227 Entering Passive Mode (127,0,0,1,200,10). Have a nice day\r\n' },
    { title: 'a routable address (a correctly configured server)', reply: '227 Entering Passive Mode (8,8,8,8,200,10)\r\n' },
    { title: 'the public address with bare LF', reply: '227 Entering Passive Mode (127,0,0,1,200,10)\n' },
  ])('leaves a 227 naming $title byte-identical', async ({ reply }) => {
    const upstream = await upstreamAnsweringPasv(reply);
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const answer = await client.command('PASV');
    expect(answer.text).toBe(reply);
  });

  it.each([
    { title: 'without parentheses', reply: '227 Entering Passive Mode 10,0,11,251,195,80\r\n' },
    { title: 'with spaces after the commas', reply: '227 Entering Passive Mode (10, 0, 11, 251, 195, 80)\r\n' },
    { title: 'with "=" and no text', reply: '227 =10,0,11,251,195,80\r\n' },
    { title: 'without the trailing dot, lower case', reply: '227 entering passive mode (10,0,11,251,195,80)\r\n' },
    { title: 'split over two lines', reply: '227-Entering Passive Mode\r\n227 10,0,11,251,195,80\r\n' },
  ])('rewrites a 227 $title canonically', async ({ reply }) => {
    const upstream = await upstreamAnsweringPasv(reply);
    const { endpoint } = await startProxy(upstream.address);
    const client = await openLoggedIn(endpoint);
    const answer = await client.command('PASV');
    expect(answer.text).toBe('227 Entering Passive Mode (127,0,0,1,195,80).\r\n');
    expect((await client.command('NOOP')).code).toBe(200);
  });
});
