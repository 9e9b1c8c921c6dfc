/**
 * The live view over real sockets (issue 13, item 6): during a running download /sessions shows
 * the user the server accepted, the RETR and a byte count that grows as the client reads; never
 * the password; after the end the session is gone. The data connection is paced by the client, so
 * the count stands still between reads and must have grown at the second.
 */
import { describe, expect, it } from 'vitest';
import {
  LIVE_FILE,
  LIVE_PASSWORD,
  LIVE_USER_TEXT,
  httpGet,
  onlySession,
  readSessions,
  startPacedDownload,
} from '../helpers/live-transfer.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { sha256, waitUntil } from '../helpers/raw-ftp-client.js';

const harness = createProxyHarness({ passivePorts: '29400-29409' });
const MIB = 1024 * 1024;

describe('GET /sessions during a transfer', () => {
  it('shows the user, the RETR and growing bytes; never the password; the session is gone after it ends', async () => {
    const download = await startPacedDownload(harness);
    const { http } = download;

    await download.step(MIB);
    // The relay may still be filling socket buffers: wait until its count stands, then read it.
    let first = onlySession((await readSessions(http)).document);
    await waitUntil(
      async () => {
        const again = onlySession((await readSessions(http)).document);
        const settled = again.data?.bytes === first.data?.bytes;
        first = again;
        return settled;
      },
      5000,
      () => JSON.stringify(first),
    );
    expect(first).toMatchObject({
      site: 'default',
      user: LIVE_USER_TEXT,
      state: 'transfer',
      transfer: { verb: 'RETR', argument: LIVE_FILE },
    });
    expect(first.client).toMatch(/^127\.0\.0\.1:\d+$/);
    const before = first.data?.bytes ?? 0;
    expect(before).toBeGreaterThanOrEqual(MIB);
    expect(first.data?.bytesToServer).toBe(0);

    await download.step(4 * MIB);
    // The client took 4 MiB more; what it took from socket buffers the relay refills as they drain.
    let read = await readSessions(http);
    await waitUntil(
      async () => {
        read = await readSessions(http);
        return (onlySession(read.document).data?.bytes ?? 0) > before;
      },
      5000,
      () => `still ${before} bytes: ${read.text}`,
    );
    const { document, text } = read;
    const second = onlySession(document);
    expect(second.id).toBe(first.id);
    // The relay has handed the client at least what the client has read.
    expect(second.data?.bytes ?? 0).toBeGreaterThanOrEqual(download.data.bytesReceived);
    expect(second.data?.bytes ?? 0).toBeLessThanOrEqual(download.payload.length);
    expect(second.data?.bytesPerSecond ?? 0).toBeGreaterThan(0);
    // Neither the password nor anything of the PASS line, in the JSON or the page.
    expect(text).not.toContain(LIVE_PASSWORD);
    expect(text).not.toMatch(/PASS/);
    // Markup in the user name stays escaped in the JSON text.
    expect(text).not.toContain('<i>');

    const received = await download.finish();
    expect(sha256(received)).toBe(sha256(download.payload));
    let idle = onlySession((await readSessions(http)).document);
    await waitUntil(
      async () => {
        idle = onlySession((await readSessions(http)).document);
        return idle.state === 'idle';
      },
      5000,
      () => JSON.stringify(idle),
    );
    expect(idle).toMatchObject({ id: first.id, state: 'idle', transfer: null, data: null, user: LIVE_USER_TEXT });

    await download.client.command('QUIT');
    await waitUntil(async () => (await readSessions(http)).document.total === 0, 5000, () => 'the session is still listed');
    expect((await readSessions(http)).document).toMatchObject({ total: 0, omitted: 0, sessions: [] });
  });

  it('a session whose client resets mid-transfer leaves the view (the one close path removes it)', async () => {
    // Large enough that the relay cannot hand it all to the kernel's socket buffers before the reset.
    const download = await startPacedDownload(harness, 64 * MIB);
    await download.step(MIB);
    expect(onlySession((await readSessions(download.http)).document).state).toBe('transfer');
    download.client.socket.resetAndDestroy();
    download.data.destroy();
    await waitUntil(async () => (await readSessions(download.http)).document.total === 0, 5000, () => 'the reset session is still listed');
    expect(download.proxy.daemon.sessionCount()).toBe(0);
  });

  it('serves the page next to /metrics, /healthz and /readyz, which answer as before', async () => {
    const upstream = await harness.legacyServer();
    const { daemon } = await harness.startProxy(upstream.address, { metricsListen: '127.0.0.1:0' });
    const endpoint = daemon.metricsAddress;
    if (endpoint === undefined) throw new Error('no metrics listener');
    const page = await httpGet(endpoint, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).toContain('<title>ftpmasq sessions</title>');
    expect((await httpGet(endpoint, '/healthz')).body).toBe('ok\n');
    expect((await httpGet(endpoint, '/metrics')).body).toContain('ftpmasq_sessions_active');
    expect((await httpGet(endpoint, '/readyz')).status).toBeGreaterThanOrEqual(200);
  });
});
