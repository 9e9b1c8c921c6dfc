/**
 * Issue 11, item 3, end to end: Python ftplib's abort() (ABOR sent as TCP urgent data) mid-download
 * of the 64 MiB fixture from the real ProFTPD through ftpmasq. Before, ftpmasq read the urgent
 * ABOR as `ABOR\r`, a line whose LF never came: no reply, and the rest of the file kept coming. Now
 * the client gets 426 then 226, the session answers NOOP, and the next download is intact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, runFtplibAbort, runFtplibStat } from '../helpers/clients.js';
import { LARGE_FILE, SAMPLE_FILE } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { ProxyUnderTest } from './support/proxy-checks.js';

let env: E2eEnvironment | undefined;
const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const proxy = new ProxyUnderTest(requireEnv);

beforeAll(async () => {
  env = await setUpEnvironment();
  await proxy.start([]);
});

afterAll(async () => {
  try {
    await proxy.stop();
  } finally {
    await env?.teardown();
  }
});

describe('ABOR through ftpmasq (relay mode) to ProFTPD', () => {
  it(`ftplib abort() mid-RETR of ${LARGE_FILE}: 426 then 226, NOOP answers, the next RETR is intact`, async () => {
    const { tools, topology, proftpd } = requireEnv();
    const result = await runFtplibAbort({ tools, topology, host: topology.client, endpoint: { address: PUBLIC_ADDRESS, port: 21 } }, LARGE_FILE, SAMPLE_FILE);
    console.log(`[e2e] ftplib abort: ${JSON.stringify({ abort: result.abort, noop: result.noop, received: result.received })}`);
    expect(result.run.code, `${describeRun(result.run)}\n${proxy.logTail()}`).toBe(0);
    expect(result.abort.map((reply) => reply.slice(0, 3))).toEqual(['426', '226']);
    expect(result.noop.slice(0, 3)).toBe('200');
    expect(result.nextSha256).toBe(proftpd.fixtures.get(SAMPLE_FILE)?.sha256);
    // The aborted transfer's relay was closed by the ABOR, not run to its end.
    const closed = proxy.records('data connection closed').map((record) => record['reason']);
    expect(closed).toContain('aborted');
  });
});

describe('STAT during a download through ftpmasq (relay mode) to ProFTPD', () => {
  it(`STAT after the first MiB of ${LARGE_FILE}: ProFTPD answers it after the 226, in order; the download is intact, NOOP answers`, async () => {
    const { tools, topology, proftpd } = requireEnv();
    const result = await runFtplibStat({ tools, topology, host: topology.client, endpoint: { address: PUBLIC_ADDRESS, port: 21 } }, LARGE_FILE);
    console.log(`[e2e] ftplib STAT during RETR: ${JSON.stringify({ replies: result.replies.map((reply) => reply.split('\n')[0]), received: result.received })}`);
    expect(result.run.code, `${describeRun(result.run)}\n${proxy.logTail()}`).toBe(0);
    // ProFTPD 1.3.8 does not read the control connection during a transfer (checked against it
    // directly too): the STAT's 211 comes after the transfer's 226. docs/DESIGN.md.
    expect(result.replies.map((reply) => reply.slice(0, 3))).toEqual(['226', '211']);
    expect(result.replies[1]).toMatch(/^211-/);
    expect(result.sha256).toBe(proftpd.fixtures.get(LARGE_FILE)?.sha256);
    expect(result.noop.slice(0, 3)).toBe('200');
  });
});
