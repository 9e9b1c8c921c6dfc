/** RFC 2428 section 4: a relayed 229 keeps the delimiter the server chose. */
import { afterEach, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/schema.js';
import { start } from '../../src/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { RawFtpClient } from '../helpers/raw-ftp-client.js';
import { ScriptedUpstream } from '../helpers/scripted-upstream.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('EPSV passthrough in relay mode', () => {
  for (const delimiter of ['|', '!', '#']) {
    it(`answers a 229 delimited by "${delimiter}" with ftpmasq's port and the same delimiter`, async () => {
      let upstreamPort = 0;
      const upstream = await ScriptedUpstream.start(async (connection) => {
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
      cleanups.push(() => upstream.close());
      const daemon = await start(
        buildConfig({ listen: '127.0.0.1:0', upstream: upstream.address, metricsListen: 'off', passivePorts: '43700-43709' }),
        { logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }) },
      );
      cleanups.push(() => daemon.stop());
      const endpoint = daemon.addresses[0];
      if (endpoint === undefined) throw new Error('no listener');
      const client = await RawFtpClient.open(endpoint);
      cleanups.push(() => client.close());
      await client.login();
      const reply = await client.command('EPSV');
      const escaped = delimiter.replace(/[|#!]/g, (c) => `\\${c}`);
      const match = new RegExp(`^229 Entering Extended Passive Mode \\(${escaped}{3}(\\d+)${escaped}\\)\\r\\n$`).exec(reply.text);
      expect(match, reply.text).not.toBeNull();
      const port = Number(match?.[1]);
      expect(port).toBeGreaterThanOrEqual(43700);
      expect(port).toBeLessThanOrEqual(43709);
      expect(port).not.toBe(upstreamPort);
      await client.command('QUIT');
    });
  }
});
