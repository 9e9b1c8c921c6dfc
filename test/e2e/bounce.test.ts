/**
 * Issue 4, the FTP bounce attack (RFC 2577 section 3) against ftpmasq's active mode: a client names
 * another host of its own network, or a privileged port, in PORT/EPRT. ftpmasq sits inside the gateway
 * and would connect from there, so it must refuse (500 / 504), count, and never dial.
 *
 * The target really listens: a recorder on 203.0.113.3 (a second client host on the public LAN) logs
 * every connection it accepts. After the attempts, a connection made from the gateway namespace (where
 * ftpmasq would dial from) must show up in that log, so an empty log before it means "not dialled", not
 * "could not have been seen".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientOptions, createClient, describeRun, runFtplibCommands } from '../helpers/clients.js';
import { SAMPLE_FILE } from '../helpers/proftpd.js';
import { type ClientHost, PUBLIC_ADDRESS } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { ProxyUnderTest, refusals, withListener } from './support/proxy-checks.js';

const TARGET_ADDRESS = '203.0.113.3';
const TARGET_PORT = 5000; // 19 * 256 + 136
const PRIVILEGED_PORT = 1023; // 3 * 256 + 255
const endpoint = { address: PUBLIC_ADDRESS, port: 21 } as const;

let env: E2eEnvironment | undefined;
let target: ClientHost | undefined;
const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const proxy = new ProxyUnderTest(requireEnv);

beforeAll(async () => {
  env = await setUpEnvironment();
  target = await env.topology.addClientHost(TARGET_ADDRESS);
});

afterAll(async () => {
  try {
    await proxy.stop();
  } finally {
    await env?.teardown();
  }
});

function clientOptions(): ClientOptions {
  const { tools, topology } = requireEnv();
  return { tools, topology, host: topology.client, endpoint };
}

describe('ftpmasq --active relay (the default) refuses bounce targets', () => {
  beforeAll(async () => {
    await proxy.start([]);
  });

  it(`refuses PORT/EPRT naming another host (${TARGET_ADDRESS}) with 500, counts it, and that host sees no connection`, async () => {
    const before = (await proxy.metrics()).value(refusals('bounce_foreign_host'));
    let replies: readonly { command: string; reply: string }[] = [];
    const seen = await withListener(requireEnv(), requireTarget(), TARGET_ADDRESS, TARGET_PORT, async () => {
      // Each refused data command is followed by a transfer command: that is when ftpmasq would dial.
      const result = await runFtplibCommands(clientOptions(), [
        'TYPE I',
        'PORT 203,0,113,3,19,136',
        `RETR ${SAMPLE_FILE}`,
        `EPRT |1|${TARGET_ADDRESS}|${TARGET_PORT}|`,
        `RETR ${SAMPLE_FILE}`,
      ]);
      expect(result.run.code, describeRun(result.run)).toBe(0);
      replies = result.replies;
    });
    console.log(`[e2e] bounce to ${TARGET_ADDRESS}:${TARGET_PORT}: ${JSON.stringify(replies)}; accepts during the attempts: ${JSON.stringify(seen.duringAttempts)}, from the gateway probe: ${JSON.stringify(seen.fromGatewayProbe)}`);
    expect(replies[1]?.reply, JSON.stringify(replies)).toBe('500 Illegal PORT command: address must be your own.');
    expect(replies[3]?.reply).toBe('500 Illegal PORT command: address must be your own.');
    // With no data connection set up, the RETRs fail at the server; what matters is that they fail.
    expect(replies[2]?.reply).toMatch(/^[45]\d\d /);
    expect(replies[4]?.reply).toMatch(/^[45]\d\d /);
    expect(seen.duringAttempts, proxy.logTail()).toEqual([]);
    expect(seen.fromGatewayProbe).toEqual([PUBLIC_ADDRESS]);

    const counted = (await proxy.metrics()).value(refusals('bounce_foreign_host')) - before;
    expect(counted).toBe(2);
    // Logged at warn with what was refused (docs/LOGGING.md).
    const logged = proxy
      .records('refused')
      .filter((record) => record['level'] === 'warn')
      .map((record) => `${String(record['reason'])} ${String(record['verb'])} ${String(record['target'])}`);
    expect(logged).toEqual([
      `bounce_foreign_host PORT ${TARGET_ADDRESS}:${TARGET_PORT}`,
      `bounce_foreign_host EPRT ${TARGET_ADDRESS}:${TARGET_PORT}`,
    ]);
    expect(proxy.records('data connection closed')).toEqual([]);
  });

  it(`refuses the client's own address with a port below 1024 with 504, counts it, and dials nothing`, async () => {
    const { topology } = requireEnv();
    const before = (await proxy.metrics()).value(refusals('bounce_privileged_port'));
    let replies: readonly { command: string; reply: string }[] = [];
    const seen = await withListener(requireEnv(), topology.client, topology.client.address, PRIVILEGED_PORT, async () => {
      const result = await runFtplibCommands(clientOptions(), [
        'TYPE I',
        'PORT 203,0,113,2,3,255',
        `RETR ${SAMPLE_FILE}`,
        `EPRT |1|${topology.client.address}|${PRIVILEGED_PORT}|`,
        `RETR ${SAMPLE_FILE}`,
        'PORT 203,0,113,2,0,21',
      ]);
      expect(result.run.code, describeRun(result.run)).toBe(0);
      replies = result.replies;
    });
    console.log(`[e2e] PORT/EPRT to ${topology.client.address}:${PRIVILEGED_PORT}: ${JSON.stringify(replies)}; accepts during the attempts: ${JSON.stringify(seen.duringAttempts)}`);
    expect(replies[1]?.reply, JSON.stringify(replies)).toBe('504 Illegal PORT command: port below 1024.');
    expect(replies[3]?.reply).toBe('504 Illegal PORT command: port below 1024.');
    expect(replies[5]?.reply).toBe('504 Illegal PORT command: port below 1024.');
    expect(seen.duringAttempts, proxy.logTail()).toEqual([]);
    expect(seen.fromGatewayProbe).toEqual([PUBLIC_ADDRESS]);
    expect((await proxy.metrics()).value(refusals('bounce_privileged_port')) - before).toBe(3);
  });

  it('still relays a PORT to the client itself on an unprivileged port (the same session kind works)', async () => {
    const { clientDir } = requireEnv();
    const run = await createClient('python-ftplib-active', clientOptions()).download(SAMPLE_FILE, `${clientDir}/bounce-control-${SAMPLE_FILE}`);
    expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
    expect(run.stderr).toMatch(/\*resp\* '200 PORT command successful/);
  });
});

describe('ftpmasq --active disable', () => {
  beforeAll(async () => {
    await proxy.start(['--active', 'disable']);
  });

  it('answers PORT and EPRT with 502 and counts them', async () => {
    const { topology } = requireEnv();
    const before = (await proxy.metrics()).value(refusals('active_disabled'));
    const { run, replies } = await runFtplibCommands(clientOptions(), [
      'PORT 203,0,113,2,200,0',
      `EPRT |1|${topology.client.address}|51200|`,
    ]);
    expect(run.code, describeRun(run)).toBe(0);
    expect(replies.map((r) => r.reply)).toEqual([
      '502 PORT is disabled on this proxy; use passive mode.',
      '502 EPRT is disabled on this proxy; use passive mode.',
    ]);
    expect((await proxy.metrics()).value(refusals('active_disabled')) - before).toBe(2);
  });

  it('makes curl -P - fail cleanly (EPRT 502, then PORT 502: curl exit 30), while passive mode works', async () => {
    const { clientDir } = requireEnv();
    const active = await createClient('curl-eprt', clientOptions()).download(SAMPLE_FILE, `${clientDir}/disabled-${SAMPLE_FILE}`);
    expect(active.timedOut, describeRun(active)).toBe(false);
    expect(active.code, describeRun(active)).toBe(30); // CURLE_FTP_PORT_FAILED
    expect(active.stderr).toMatch(/< 502 EPRT is disabled/);
    expect(active.stderr).toMatch(/< 502 PORT is disabled/);
    const passive = await createClient('curl-epsv', clientOptions()).download(SAMPLE_FILE, `${clientDir}/disabled-passive-${SAMPLE_FILE}`);
    expect(passive.code, describeRun(passive)).toBe(0);
  });
});

function requireTarget(): ClientHost {
  if (target === undefined) throw new Error(`the client host ${TARGET_ADDRESS} was not created (see the beforeAll error)`);
  return target;
}
