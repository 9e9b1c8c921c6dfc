/**
 * `upstreamPreconnect` in front of the real ProFTPD (whose master sleeps after each session's end,
 * the reason for the key): every session after the first takes a connection ProFTPD accepted
 * earlier, the client still gets ProFTPD's own greeting and intact files, and the spares that
 * nobody takes are closed with QUIT after their max age, leaving none.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, describeRun } from '../helpers/clients.js';
import { LARGE_FILE, SAMPLE_FILE, figuresOf } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { ProxyUnderTest } from './support/proxy-checks.js';

const SPARES = 3;
const MAX_AGE_S = 4;
const SESSIONS = 8;

let env: E2eEnvironment | undefined;
const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const proxy = new ProxyUnderTest(requireEnv);

const used = 'ftpmasq_upstream_preconnects_total{outcome="used"}';
const expired = 'ftpmasq_upstream_preconnects_total{outcome="expired"}';
const waiting = 'ftpmasq_upstream_preconnected';

async function metric(series: string): Promise<number> {
  return (await proxy.metrics()).value(series);
}

/** Polls /metrics until `series` satisfies `ok`, at most `timeoutMs`. */
async function untilMetric(series: string, ok: (value: number) => boolean, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await metric(series);
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function client(): ReturnType<typeof createClient> {
  const { tools, topology } = requireEnv();
  return createClient('curl-legacy', { tools, topology, host: topology.client, endpoint: { address: PUBLIC_ADDRESS, port: 21 } });
}

beforeAll(async () => {
  env = await setUpEnvironment();
  // One process: each worker keeps its own pool, and the counts below follow one pool's sessions.
  await proxy.start(['--workers', '1', '--upstream-preconnect', String(SPARES), '--upstream-preconnect-max-age', `${MAX_AGE_S}s`]);
}, 60_000);

afterAll(async () => {
  try {
    await proxy.stop();
  } finally {
    await env?.teardown();
  }
});

describe('upstreamPreconnect against ProFTPD', () => {
  it(`${SESSIONS} sessions in a row: each after the first takes a preconnected connection, gets ProFTPD's greeting and an intact file`, async () => {
    const { proftpd, clientDir } = requireEnv();
    expect(await metric(waiting)).toBe(0);
    for (let index = 0; index < SESSIONS; index++) {
      const file = index % 2 === 0 ? SAMPLE_FILE : LARGE_FILE;
      const localPath = join(clientDir, `preconnect-${index}-${file}`);
      const run = await client().download(file, localPath);
      expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
      expect(run.stderr.toString()).toMatch(/< 220 ProFTPD Server/);
      expect(await figuresOf(localPath, file)).toEqual(proftpd.fixtures.get(file));
      // The next session starts once a spare is waiting, so whether it takes one is not left to timing.
      expect(await untilMetric(waiting, (value) => value >= 1, 10_000), proxy.logTail()).toBeGreaterThanOrEqual(1);
    }
    expect(await metric(used)).toBe(SESSIONS - 1);
  });

  it('an upload through a preconnected connection lands intact on the server disk', async () => {
    const { proftpd, upload } = requireEnv();
    const before = await metric(used);
    const run = await client().upload(upload.path, 'preconnect-upload.bin');
    expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
    const stored = await figuresOf(join(proftpd.root, 'preconnect-upload.bin'), 'preconnect-upload.bin');
    expect({ size: stored.size, sha256: stored.sha256 }).toEqual({ size: upload.size, sha256: upload.sha256 });
    expect((await metric(used)) - before).toBe(1);
  });

  it(`spares nobody takes get QUIT after ${MAX_AGE_S} s and are not replaced while no session starts`, async () => {
    expect(await untilMetric(waiting, (value) => value === SPARES, 10_000)).toBe(SPARES);
    const before = await metric(expired);
    expect(await untilMetric(waiting, (value) => value === 0, (MAX_AGE_S + 5) * 1000)).toBe(0);
    expect((await metric(expired)) - before).toBe(SPARES);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await metric(waiting)).toBe(0);
  });
});
