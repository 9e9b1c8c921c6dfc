/**
 * Resource leaks: after many sessions, orderly or abandoned midway, every socket and passive port
 * is released. Measured as this process's open descriptors (ftpmasq, the upstream and the clients
 * all run in it), the session count and the passive-ports-in-use gauge.
 */
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunningDaemon } from '../../src/daemon.js';
import type { LegacyFtpServer } from '../../src/demo/legacy-ftp-server.js';
import { describeOpenFds, openFdCount, settleFdCount } from '../helpers/fd-count.js';
import { createProxyHarness, countPortsInUse } from '../helpers/proxy-harness.js';
import { RawFtpClient, delay, waitUntil, type Endpoint } from '../helpers/raw-ftp-client.js';

const SESSIONS = 200;
const CONCURRENCY = 10;

const SAMPLE = Buffer.from('Hello, FTP!\n');
const BIG = randomBytes(4 * 1024 * 1024);

const { startProxy, legacyServer } = createProxyHarness({
  // Below the ephemeral range (32768-60999); one hundred per integration file.
  passivePorts: '23500-23599',
  lifetime: 'file',
});

let legacy: LegacyFtpServer;
let daemon: RunningDaemon;
let proxy: Endpoint;

beforeAll(async () => {
  const upstream = await legacyServer({
    files: new Map([
      ['sample.txt', SAMPLE],
      ['big.bin', BIG],
    ]),
  });
  legacy = upstream.legacy;
  ({ daemon, endpoint: proxy } = await startProxy(upstream.address));
});

async function sessionsActive(): Promise<number> {
  return (await daemon.metrics.sessionsActive.get()).values[0]?.value ?? Number.NaN;
}

/** One orderly session: log in, one PASV + RETR, QUIT. */
async function orderlySession(): Promise<void> {
  const client = await RawFtpClient.open(proxy);
  try {
    await client.login();
    const result = await client.retrieve('sample.txt');
    if (!result.data.equals(SAMPLE) || result.final.code !== 226) throw new Error(`bad transfer\n${client.transcript()}`);
    await client.quit();
  } finally {
    await client.close();
  }
}

/** Runs `session` `count` times, `CONCURRENCY` at a time. */
async function runSessions(count: number, session: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      await session(index);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, () => worker()));
}

/** Waits for every session to end, then checks descriptors against the baseline. */
async function expectAllReleased(baseline: number): Promise<void> {
  await waitUntil(() => daemon.sessionCount() === 0, 3000, () => `${daemon.sessionCount()} sessions still open`);
  expect(await sessionsActive()).toBe(0);
  await waitUntil(async () => (await countPortsInUse(daemon)) === 0, 3000, () => 'passive ports still in use');
  const settled = await settleFdCount(baseline, 3000);
  expect(settled, `open descriptors:\n${describeOpenFds().join('\n')}`).toBeLessThanOrEqual(baseline);
  expect(legacy.connectionCount).toBe(0);
}

async function baselineAfterWarmUp(): Promise<number> {
  await orderlySession();
  await waitUntil(() => daemon.sessionCount() === 0, 3000, () => 'warm-up session still open');
  await delay(100);
  return openFdCount();
}

describe('no leaks', () => {
  it(`${SESSIONS} sessions of login, PASV + RETR and QUIT leave no descriptor, session or port behind`, async () => {
    const baseline = await baselineAfterWarmUp();
    await runSessions(SESSIONS, () => orderlySession());
    await expectAllReleased(baseline);
  });

  it('sessions abandoned at every stage leave nothing behind either', async () => {
    const baseline = await baselineAfterWarmUp();
    const stages = [
      'before the greeting',
      'after PASV',
      'with the data connection open',
      'mid-download, control first',
      'mid-download, data first',
      'after a reset',
      'control gone, data left open',
    ] as const;
    await runSessions(stages.length * 10, async (index) => {
      const stage = stages[index % stages.length];
      const client = await RawFtpClient.connect(proxy);
      // Only the control connection is closed here: ftpmasq must close the data connection.
      let leaveDataOpen = false;
      try {
        if (stage === 'before the greeting') return;
        await client.expectReply(220);
        await client.login();
        const target = await client.pasv();
        if (stage === 'after PASV') return;
        const data = await client.connectData(target);
        if (stage === 'with the data connection open') return;
        if (stage === 'control gone, data left open') {
          leaveDataOpen = true;
          return;
        }
        client.send('RETR big.bin');
        await client.expectReply(150);
        await waitUntil(() => data.bytesReceived > 0, 3000, () => 'no data');
        if (stage === 'mid-download, data first') {
          data.destroy();
          await delay(5);
        }
        if (stage === 'after a reset') client.socket.resetAndDestroy();
      } finally {
        if (leaveDataOpen) client.socket.destroy();
        else await client.close();
      }
    });
    await expectAllReleased(baseline);
  });
});
