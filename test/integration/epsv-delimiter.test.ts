/** RFC 2428 section 4: a relayed 229 keeps the delimiter the server chose. */
import { describe, expect, it } from 'vitest';
import { createProxyHarness } from '../helpers/proxy-harness.js';

const { startProxy, scripted, openLoggedIn } = createProxyHarness({ passivePorts: '28050-28059' });

describe('EPSV passthrough in relay mode', () => {
  for (const delimiter of ['|', '!', '#']) {
    it(`answers a 229 delimited by "${delimiter}" with ftpmasq's port and the same delimiter`, async () => {
      let upstreamPort = 0;
      const upstream = await scripted(async (connection) => {
        await connection.greetAndLogin();
        await connection.expectCommand('EPSV');
        const port = await connection.openDataPort();
        upstreamPort = port.port;
        const d = delimiter;
        connection.write(`229 Entering Extended Passive Mode (${d}${d}${d}${port.port}${d})\r\n`);
        await connection.expectCommand('QUIT');
        connection.write('221 bye\r\n');
        connection.end();
      });
      const { endpoint } = await startProxy(upstream.address);
      const client = await openLoggedIn(endpoint);
      const reply = await client.command('EPSV');
      const escaped = delimiter.replace(/[|#!]/g, (c) => `\\${c}`);
      const match = new RegExp(`^229 Entering Extended Passive Mode \\(${escaped}{3}(\\d+)${escaped}\\)\\r\\n$`).exec(reply.text);
      expect(match, reply.text).not.toBeNull();
      const port = Number(match?.[1]);
      expect(port).toBeGreaterThanOrEqual(28050);
      expect(port).toBeLessThanOrEqual(28059);
      expect(port).not.toBe(upstreamPort);
      await client.command('QUIT');
    });
  }
});
