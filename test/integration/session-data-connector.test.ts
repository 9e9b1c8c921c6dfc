/**
 * The data connector through a real session: one prepare/commit/rollback path for passive and
 * active set-up, and the passive ports it holds going back to the pool.
 */
import { describe, expect, it } from 'vitest';
import { countPortsInUse, createProxyHarness } from '../helpers/proxy-harness.js';
import { sha256, waitUntil } from '../helpers/raw-ftp-client.js';

const { startProxy, legacyServer, openLoggedIn } = createProxyHarness({ passivePorts: '21000-21009' });

const FILE = Buffer.alloc(300_000, 'ftpmasq data connector ');

describe('the data connector', () => {
  // Regression: a PASV and a PORT pipelined left the passive port of the PASV listening and held
  // until the process ended: the active plan replaced it without releasing it.
  it('releases the passive port a pipelined PORT replaces, and every port when the session ends', async () => {
    const { address } = await legacyServer();
    const { daemon, endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const listener = await client.listenActive();
    client.send('PASV', `PORT ${listener.portArgument}`);
    const [pasv, port] = await client.readReplies(2);
    expect(pasv?.code).toBe(227);
    expect(port?.code).toBe(200);
    expect(await countPortsInUse(daemon)).toBe(0);
    await client.quit();
    await listener.close();
    expect(await countPortsInUse(daemon)).toBe(0);
  });

  it.each(['pasv', 'epsv', 'port', 'eprt'] as const)('carries a download and an upload in %s mode, checksums equal', async (mode) => {
    const { legacy, address } = await legacyServer({ files: new Map([['file.bin', FILE]]) });
    const { daemon, endpoint } = await startProxy(address);
    const client = await openLoggedIn(endpoint);
    const download = await client.retrieve('file.bin', { mode });
    expect(download.final.code).toBe(226);
    expect(sha256(download.data)).toBe(sha256(FILE));
    const upload = await client.store('copy.bin', FILE, { mode });
    expect(upload.final.code).toBe(226);
    expect(sha256(legacy.files.get('copy.bin') ?? Buffer.alloc(0))).toBe(sha256(FILE));
    await waitUntil(async () => (await countPortsInUse(daemon)) === 0, 2000, () => 'a passive port is still held');
  });
});
